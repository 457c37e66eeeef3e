#!/usr/bin/env python3
"""opsloop's redaction next to detect-secrets' plugins (detect-secrets 1.5.0, its default settings) on one
canary corpus: secrets of many kinds planted in realistic log lines (a fixed seed), recall per kind; false
positives on the Loghub 2k lines (the ``Content`` column of every system under ../shared/eval/loghub2k);
lines per second of each on the same lines.

opsloop counts a canary as caught when the planted value no longer appears in the redacted line;
detect-secrets when it reports any secret on that line (it reports, it does not rewrite). detect-secrets is
run as its users run it: ``SecretsCollection().scan_file`` on a ``.log`` file, so its filters apply.

    .venv/bin/python benchmarks/redaction_peers.py [--per-kind 40]
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import random
import string
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "opsloop"))
LOGHUB = ROOT.parent / "shared" / "eval" / "loghub2k"

A, U, L, D = string.ascii_letters + string.digits, string.ascii_uppercase, string.ascii_lowercase, string.digits
HEX = "0123456789abcdef"


def rnd(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def luhn_card(r: random.Random) -> str:
    digits = [4] + [r.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return "".join(map(str, digits + [(10 - total % 10) % 10]))


def jwt(r: random.Random) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': rnd(r, D, 8), 'exp': 1790000000})}.{rnd(r, A + '-_', 43)}"


# kind -> (secret generator, line templates with {s})
KINDS = {
    "aws_access_key_id": (lambda r: "AKIA" + rnd(r, U + D, 16),
                          ["botocore: using access key {s} for s3", "STS AssumeRole failed for key {s}"]),
    "aws_secret_key": (lambda r: rnd(r, A + "+/", 40),
                       ["aws_secret_access_key={s}", "export AWS_SECRET_ACCESS_KEY={s} && ./deploy.sh"]),
    "github_token": (lambda r: "ghp_" + rnd(r, A, 36),
                     ["git clone https://x-access-token:{s}@github.com/acme/app failed", "GITHUB_TOKEN {s} rejected"]),
    "slack_bot_token": (lambda r: f"xoxb-{rnd(r, D, 12)}-{rnd(r, D, 13)}-{rnd(r, A, 24)}",
                        ["slack post failed token={s} error=invalid_auth", "Using Slack token {s}"]),
    "slack_webhook": (lambda r: f"https://hooks.slack.com/services/T{rnd(r, U + D, 8)}/B{rnd(r, U + D, 10)}/{rnd(r, A, 24)}",
                      ["POST {s} returned 404 no_service", "alert webhook {s} timed out"]),
    "stripe_live_key": (lambda r: "sk_live_" + rnd(r, A, 24),
                        ["stripe.error.AuthenticationError: Invalid API Key provided: {s}", "charge failed key {s}"]),
    "jwt": (jwt, ["401 Unauthorized for token {s}", "Authorization: Bearer {s}"]),
    "private_key": (lambda r: "-----BEGIN RSA PRIVATE KEY-----MIIEow" + rnd(r, A + "+/", 40),
                    ["ssh: could not parse key {s}", "tls: failed to load {s}"]),
    "db_url_password": (lambda r: rnd(r, A, 14),
                        ["OperationalError: could not connect to postgresql://orders:{s}@db.internal:5432/orders",
                         "redis://default:{s}@cache:6379/0 connection refused"]),
    "password_kv": (lambda r: rnd(r, A + "!#%", 12),
                    ["login failed user=admin password={s}", 'config loaded {{"db_password": "{s}", "pool": 10}}']),
    "basic_auth_header": (lambda r: base64.b64encode(f"svc:{rnd(r, A, 16)}".encode()).decode(),
                          ["upstream 401 with header Authorization: Basic {s}", "proxy auth Basic {s} rejected"]),
    "google_api_key": (lambda r: "AIza" + rnd(r, A + "-_", 35),
                       ["maps geocode failed key={s} REQUEST_DENIED", "firebase init with apiKey {s}"]),
    "sendgrid_key": (lambda r: f"SG.{rnd(r, A + '-_', 22)}.{rnd(r, A + '-_', 43)}",
                     ["sendgrid 403 for {s}", "mail provider key {s} revoked"]),
    "npm_token": (lambda r: "npm_" + rnd(r, A, 36), ["npm ERR! 401 token {s}", "//registry.npmjs.org/:_authToken={s}"]),
    "openai_key": (lambda r: "sk-" + rnd(r, A, 20) + "T3BlbkFJ" + rnd(r, A, 20),
                   ["openai.AuthenticationError: Incorrect API key provided: {s}", "LLM call with key {s} failed"]),
    "azure_storage_key": (lambda r: "AccountKey=" + rnd(r, A + "+/", 86) + "==",
                          ["DefaultEndpointsProtocol=https;AccountName=acme;{s};EndpointSuffix=core.windows.net",
                           "blob upload failed: {s}"]),
    "twilio_key": (lambda r: "SK" + rnd(r, HEX, 32), ["twilio auth failed for {s}", "sms gateway key {s} disabled"]),
    "credit_card": (luhn_card, ["payment declined for card {s} amount=12.00", "refund card_number={s} failed"]),
    "generic_api_key_hex": (lambda r: rnd(r, HEX, 32),
                            ["X-Api-Key: {s} rejected by upstream", "api_key={s} is invalid"]),
}


def canaries(per_kind: int) -> list[tuple[str, str, str]]:
    r = random.Random(20261203)
    out = []
    for kind, (gen, templates) in KINDS.items():
        for i in range(per_kind):
            secret = gen(r)
            prefix = f"2026-12-03T10:{i % 60:02d}:{r.randrange(60):02d}Z ERROR [{rnd(r, L, 6)}] "
            out.append((kind, secret, prefix + templates[i % len(templates)].format(s=secret)))
    return out


def loghub_lines() -> list[str]:
    lines = []
    for path in sorted(LOGHUB.glob("*/*_structured*.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            lines.extend(row["Content"] for row in csv.DictReader(fh) if row.get("Content"))
    return lines


def opsloop_flags(lines: list[str]) -> tuple[list[str], float]:
    from opsloop.redact import clear_caches, redact

    clear_caches()
    t = time.perf_counter()
    out = [redact(line).text for line in lines]
    return out, time.perf_counter() - t


def detect_secrets_flags(lines: list[str]) -> tuple[list[set[str]], float]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.log"
        path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
        with default_settings():
            t = time.perf_counter()
            found = SecretsCollection()
            found.scan_file(str(path))
            elapsed = time.perf_counter() - t
    per_line: list[set[str]] = [set() for _ in lines]
    for _, s in found:
        per_line[s.line_number - 1].add(s.type)
    return per_line, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=40)
    args = ap.parse_args()
    if not LOGHUB.is_dir():
        print(f"Loghub lines not found at {LOGHUB}", file=sys.stderr)
        return 2
    corpus = canaries(args.per_kind)
    hub = loghub_lines()
    texts = [c[2] for c in corpus]
    ops_out, ops_t = opsloop_flags(texts + hub)
    ds_out, ds_t = detect_secrets_flags(texts + hub)
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, (kind, secret, _line) in enumerate(corpus):
        hits[kind][0] += secret not in ops_out[i]
        hits[kind][1] += bool(ds_out[i])
    n = args.per_kind
    print(f"Canary corpus: {len(KINDS)} kinds x {n} lines (seed 20261203); Loghub: {len(hub)} lines\n")
    print("| secret kind | opsloop recall | detect-secrets recall |\n|---|---|---|")
    for kind in KINDS:
        o, d = hits[kind]
        print(f"| {kind} | {o / n:.0%} | {d / n:.0%} |")
    o_all = sum(h[0] for h in hits.values()) / len(corpus)
    d_all = sum(h[1] for h in hits.values()) / len(corpus)
    print(f"| **all** | **{o_all:.0%}** | **{d_all:.0%}** |\n")
    ops_fp = [hub[i] for i in range(len(hub)) if ops_out[len(texts) + i] != hub[i]]
    ds_fp_types: dict[str, int] = defaultdict(int)
    ds_fp = 0
    for types in ds_out[len(texts):]:
        ds_fp += bool(types)
        for t in types:
            ds_fp_types[t] += 1
    total = len(texts) + len(hub)
    print("| | opsloop | detect-secrets |\n|---|---|---|")
    print(f"| Loghub lines flagged (false positives) | {len(ops_fp)} of {len(hub)} | {ds_fp} of {len(hub)} |")
    print(f"| lines/s (canaries + Loghub, {total} lines) | {total / ops_t:,.0f} | {total / ds_t:,.0f} |")
    print(f"| speed ratio opsloop / detect-secrets | {ds_t / ops_t:.1f}x | 1.0x |\n")
    print("Missed by opsloop (recall < 100%): " + (", ".join(k for k in KINDS if hits[k][0] < n) or "none"))
    print("Missed by detect-secrets (recall < 100%): " + (", ".join(k for k in KINDS if hits[k][1] < n) or "none"))
    if ds_fp_types:
        print("detect-secrets false positives by plugin: " +
              ", ".join(f"{t} {c}" for t, c in sorted(ds_fp_types.items(), key=lambda x: -x[1])))
    for line in ops_fp[:5]:
        print(f"opsloop false positive: {line[:160]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
