"""Build queries.jsonl (judged alert → runbook pairs) from rules.jsonl, the alert rules as their authors wrote them.

Each line of rules.jsonl is one alerting rule copied from a public PrometheusRule (see SOURCE.md): its name,
the source it came from and its templated ``summary`` / ``message`` and ``description`` annotations. This
script fills the templates the way Alertmanager would show them (``{{ $labels.x }}`` with plausible label
values, ``{{ $value }}`` with a number) and writes one query per rule:

- ``query_text``: the annotations only (summary or message, then description), never the alert name:
  the same protocol as the shared dev set, and the headline of the benchmark;
- ``query_with_name``: the alert name followed by the same text, as an Alertmanager notification arrives;
- ``expected_doc``: the runbook the rule's ``runbook_url`` points at (doc id = file stem under docs/).

The label values below were chosen before any retrieval was run on this collection and are not tuned; a
value that appears verbatim in a runbook's example output was replaced by another plausible one, so that a
query does not match its document through a copied example.

    .venv/bin/python benchmarks/data/openshift-runbooks/build.py          # rewrites queries.jsonl
    .venv/bin/python benchmarks/data/openshift-runbooks/build.py --check  # exits 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Which product area a rule's source belongs to (the ``group`` of a query, for per-area figures).
GROUPS = {"ocs": "odf", "ceph-mixins": "ceph", "kubevirt": "virt", "kubevirt-hco": "virt", "cdi": "virt",
          "ssp": "virt", "cnao": "virt", "cnao-kubemacpool": "virt", "hpp": "virt"}

#: Label values per product area: what a storage or virtualization cluster's alert would carry.
LABELS = {
    "odf": {
        "namespace": "openshift-storage", "managedBy": "ocs-storagecluster", "name": "ocs-storagecluster-cephblockpool",
        "rados_namespace": "tenant-a", "site_name": "dr-east-2", "image": "csi-vol-7c1f2e9a",
        "pool_name": "ocs-storagecluster-cephblockpool", "objectbucketclaim": "media-uploads",
        "node_name": "worker-2.ocp4.example.net", "storage_consumer_name": "storageconsumer-9f3c1d",
        "client_name": "odf-client-east", "client_cluster_name": "apps-prod-2", "odf_client_name": "odf-client-east",
        "pod": "rook-ceph-osd-2-6d9c7b8f5-x2kqp", "device_class": "ssd", "storagecluster": "ocs-storagecluster",
        "ceph_daemon": "osd.2", "hostname": "worker-1.ocp4.example.net", "node": "worker-3.ocp4.example.net",
        "device": "/dev/nvme1n1", "host": "worker-1.ocp4.example.net", "persistentvolumeclaim": "pgdata-orders-0",
    },
    "virt": {
        "namespace": "vm-prod", "name": "rhel9-orders-db", "vm": "rhel9-orders-db", "vmi": "rhel9-orders-db",
        "node": "worker-4.ocp4.example.net", "disk_name": "vdb1", "mount_point": "/srv/data",
        "resource": "virtualmachineinstancepresets", "group": "kubevirt.io", "version": "v1alpha3",
        "component_name": "ssp/ssp-kubevirt-hyperconverged",
        "annotation_name": "containerizeddataimporter.kubevirt.io/jsonpatch", "reason": "KubeVirtNotAvailable",
        "storageclass": "nfs-client",
    },
}
LABELS["ceph"] = LABELS["odf"]

#: Per-rule label overrides where one label name means something else in that rule.
OVERRIDES = {
    "ODFPersistentVolumeMirrorStatus": {"name": "pvc-5b1e2f3a-orders", "namespace": "orders"},
    "StorageAutoScalingFailed": {"name": "ocs-storagecluster-ssd-autoscaler"},
    "StorageAutoScalingCapacityReached": {"name": "ocs-storagecluster-ssd-autoscaler"},
    "StorageAutoScalerCRIsInvalid": {"name": "ocs-storagecluster-ssd-autoscaler"},
}

#: ``{{ $value }}`` per rule (the number Prometheus would print); 3 elsewhere.
VALUES = {
    "CephMonHighNumberOfLeaderChanges": "1.27", "GuestFilesystemAlmostOutOfSpace": "91.4",
    "KubeVirtDeprecatedAPIRequested": "4", "VMStorageClassWarning": "2", "KubeVirtCRModified": "2",
    "UnsupportedHCOModification": "1", "VMNonRecoverableOSPanic": "6", "CephOSDVersionMismatch": "2",
    "CephMonVersionMismatch": "2",
}

_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)


def render(text: str, labels: dict[str, str], value: str) -> str:
    """Fill Go-template annotations the way Alertmanager shows them; an unknown label is an error."""
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).split("|")[0].strip()
        if expr == "$value":
            return value
        if expr.startswith("$labels."):
            key = expr[len("$labels."):]
            if key not in labels:
                raise KeyError(f"no value for label {key!r}")
            return labels[key]
        raise ValueError(f"unsupported template expression {match.group(0)!r}")
    return re.sub(r"\s+", " ", _TEMPLATE.sub(one, text)).strip()


def build(rules_path: Path, docs_dir: Path) -> list[dict[str, str]]:
    docs = {p.stem.lower(): p.stem for p in docs_dir.glob("*.md")}
    out = []
    seen: dict[str, int] = {}
    for line in rules_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rule = json.loads(line)
        alert, source = rule["alert"], rule["source"]
        group = GROUPS[source]
        labels = {**LABELS[group], **OVERRIDES.get(alert, {})}
        value = VALUES.get(alert, "3")
        head = render(rule.get("summary") or rule.get("message") or "", labels, value)
        desc = render(rule.get("description") or "", labels, value)
        text = head if not desc or desc == head else f"{head} {desc}" if head else desc
        # The runbook_url of every rule ends in <alert>.md; one file differs only in case (CephPgRepair...).
        expected = docs.get(alert.lower())
        if expected is None:
            raise SystemExit(f"{alert}: no runbook under {docs_dir}")
        n = seen.get(alert, 0)
        seen[alert] = n + 1
        out.append({"id": f"{alert}-{n}", "alert": alert, "source": source, "group": group,
                    "query_text": text, "summary": head or desc, "query_with_name": f"{alert}: {text}",
                    "expected_doc": expected})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if queries.jsonl differs from a fresh build")
    args = ap.parse_args(argv)
    rows = build(HERE / "rules.jsonl", HERE / "docs")
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    target = HERE / "queries.jsonl"
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(f"{target} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"{len(rows)} queries, {len({r['expected_doc'] for r in rows})} judged documents, "
          f"{len(list((HERE / 'docs').glob('*.md')))} documents")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
