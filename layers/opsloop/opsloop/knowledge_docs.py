"""Knowledge documents: runbooks and stored incident reports, as Markdown with a front matter block.

The parser is deliberately small and dependency-free (PyYAML is not in the Lambda layer). It reads the
subset of YAML that runbooks use — ``key: scalar``, quoted strings, inline lists ``[a, b]`` and block lists
(``- x``) — and rejects anything else with the file's name, so a typo in a runbook fails loudly in CI
instead of silently dropping a document from search.

Sections are keyed canonically (``symptoms``, ``causes``, ``diagnose``, ``fix``, ``prevent``, plus
``impact`` and ``timeline``) whatever the heading says, in English or Korean, so the analyst can quote
"the fix" from a runbook and from a past incident report alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

#: A document larger than this is truncated: knowledge files are human-written, a bigger one is a mistake
#: (or an attempt to crowd the index) and would slow every search.
MAX_DOC_CHARS = 200_000
MAX_METADATA_BYTES = 64_000

CANONICAL_SECTIONS = ("symptoms", "causes", "diagnose", "fix", "prevent", "impact", "timeline")

# Heading synonyms, matched after normalisation (lower case, no numbering or punctuation). Korean entries
# match as substrings because Korean headings attach particles and qualifiers freely ("조치 방법", "해결책").
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "symptoms": ("symptoms", "symptom", "meaning", "description", "overview", "summary", "what happened",
                 "signs", "signals", "alert", "problem", "증상", "현상", "개요", "설명", "요약"),
    "causes": ("likely causes", "possible causes", "root causes", "root cause", "causes", "cause", "why",
               "원인"),
    "diagnose": ("diagnose", "diagnosis", "diagnostics", "investigation", "investigate", "troubleshooting",
                 "troubleshoot", "debugging", "how to check", "checks", "진단", "점검", "조사", "확인"),
    "fix": ("fix", "fixes", "resolution", "resolve", "remediation", "mitigation", "mitigate", "solution",
            "recovery", "workaround", "actions", "steps", "조치", "해결", "대응", "복구", "완화"),
    "prevent": ("prevent", "prevention", "preventing", "avoid", "avoidance", "follow up", "follow ups",
                "lessons learned", "예방", "방지"),
    "impact": ("impact", "영향"),
    "timeline": ("timeline", "타임라인", "경과"),
}
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*)|[ \t]*)$")
_LIST_ITEM = re.compile(r"^[ \t]*-(?:[ \t]+(.*)|[ \t]*)$")


@dataclass(frozen=True)
class Document:
    """One knowledge document, parsed. ``sections`` maps canonical keys to their Markdown text."""

    doc_id: str
    title: str
    service: str = ""
    error_patterns: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    kind: str = "runbook"  # runbook | report
    metadata: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    sections: dict[str, str] = field(default_factory=dict)
    headings: tuple[str, ...] = ()
    path: str = ""

    @property
    def fingerprint(self) -> str:
        """The incident fingerprint a report was written for ("" for runbooks)."""
        return str(self.metadata.get("fingerprint") or "")

    @property
    def severity(self) -> str:
        return str(self.metadata.get("severity") or "")


# --------------------------------------------------------------------------------------------------------
# Front matter


def _unquoted(text: str) -> tuple[list[int], bool]:
    """Indexes of the characters outside quoted strings, and whether a quote is left open.

    YAML's rules: a backslash escapes only inside double quotes; the quote characters themselves count as
    inside. Both front-matter scanners (comments, inline lists) need exactly this, so it lives once."""
    outside: list[int] = []
    quote = ""
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            outside.append(i)
    return outside, bool(quote)


def _strip_comment(value: str) -> str:
    """Drop a trailing ``# comment`` that is outside quotes (YAML needs whitespace before the ``#``)."""
    for i in _unquoted(value)[0]:
        if value[i] == "#" and (i == 0 or value[i - 1] in " \t"):
            return value[:i].rstrip()
    return value.strip()


def _unquote(value: str, where: str) -> str:
    value = value.strip()
    if len(value) >= 1 and value[0] in "'\"":
        q = value[0]
        if len(value) < 2 or value[-1] != q:
            raise InputError(f"{where}: unterminated quoted string: {value[:40]!r}")
        inner = value[1:-1]
        if q == "'":
            return inner.replace("''", "'")
        try:
            return json.loads('"' + inner + '"') if "\\" in inner else inner
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: bad escape in quoted string: {value[:40]!r}") from exc
    return value


def _split_inline_list(inner: str, where: str) -> list[str]:
    outside, open_quote = _unquoted(inner)
    cuts = []
    for i in outside:
        if inner[i] in "[]{}":
            raise InputError(f"{where}: nested collections are not supported in front matter")
        if inner[i] == ",":
            cuts.append(i)
    if open_quote:
        raise InputError(f"{where}: unterminated quoted string in list")
    bounds = [-1, *cuts, len(inner)]
    items = [inner[a + 1:b] for a, b in zip(bounds, bounds[1:])]
    out = [_unquote(i, where) for i in items]
    if out and out[-1] == "" and inner.rstrip().endswith(","):
        out.pop()  # tolerate a trailing comma
    if any(i == "" for i in out) and inner.strip():
        raise InputError(f"{where}: empty item in list")
    return out if inner.strip() else []


def _scalar_or_list(raw: str, where: str) -> str | list[str]:
    value = _strip_comment(raw)
    if value.startswith("["):
        if not value.endswith("]"):
            raise InputError(f"{where}: unterminated inline list")
        return _split_inline_list(value[1:-1], where)
    if value.startswith("{"):
        raise InputError(f"{where}: mappings are not supported in front matter")
    if value in ("|", ">", "|-", ">-"):
        raise InputError(f"{where}: block scalars are not supported in front matter")
    return _unquote(value, where)


def parse_front_matter(block: str, name: str) -> dict[str, str | list[str]]:
    """Parse the small YAML subset runbooks use. Raises InputError naming ``name`` and the line."""
    data: dict[str, str | list[str]] = {}
    current_list: list[str] | None = None
    current_key = ""
    listed: set[str] = set()
    for lineno, line in enumerate(block.splitlines(), start=2):  # line 1 is the opening ---
        where = f"{name}: front matter line {lineno}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _LIST_ITEM.match(line)
        if item:
            if current_list is None:
                raise InputError(f"{where}: list item without a key")
            content = item.group(1) or ""
            value = _scalar_or_list(content, where) if content else ""
            if isinstance(value, list):
                raise InputError(f"{where}: nested lists are not supported")
            current_list.append(value)
            listed.add(current_key)
            continue
        if line[:1] in " \t":
            raise InputError(f"{where}: unexpected indentation (nested mappings are not supported)")
        m = _KEY_LINE.match(line)
        if not m:
            raise InputError(f"{where}: expected 'key: value', got {line.strip()[:40]!r}")
        key, raw = m.group(1), (m.group(2) or "")
        if key in data:
            raise InputError(f"{where}: duplicate key {key!r}")
        current_key = key
        if _strip_comment(raw) == "":
            current_list = []
            data[key] = current_list  # a block list follows, or the value is empty
        else:
            current_list = None
            data[key] = _scalar_or_list(raw, where)
    # "key:" with nothing after it and no items is empty, as in YAML (null)
    return {k: ("" if v == [] and k not in listed else v) for k, v in data.items()}


def split_front_matter(text: str, name: str) -> tuple[dict[str, str | list[str]], str]:
    """Return (front matter, body). A document without a leading ``---`` line has no front matter."""
    text = text.lstrip("\ufeff")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            block = "\n".join(lines[1:i])
            return parse_front_matter(block, name), "\n".join(lines[i + 1:])
    raise InputError(f"{name}: front matter is not closed (no second '---' line)")


# --------------------------------------------------------------------------------------------------------
# Sections


def _normalise_heading(heading: str) -> str:
    h = re.sub(r"[*_`]", "", heading).strip().lower()
    h = re.sub(r"^(?:\d+[.)]?|[ivx]+\.)\s+", "", h)  # "1. Fix", "2) 원인"
    h = re.sub(r"[^\w\s\uac00-\ud7a3]+", " ", h)
    return re.sub(r"\s+", " ", h).strip()


def canonical_section(heading: str) -> str | None:
    """Map a heading to its canonical section key, or None when it is not one of them."""
    h = _normalise_heading(heading)
    if not h:
        return None
    for key, names in _SYNONYMS.items():
        if h in names:
            return key
    # Otherwise the earliest synonym inside the heading wins ("Root cause analysis", "조치 방법").
    best: tuple[int, int, str] | None = None
    padded = f" {h} "
    for key, names in _SYNONYMS.items():
        for syn in names:
            pos = h.find(syn) if _HANGUL.search(syn) else padded.find(f" {syn} ")
            if pos >= 0 and (best is None or (pos, -len(syn)) < best[:2]):
                best = (pos, -len(syn), key)
    return best[2] if best else None


def split_sections(body: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Collect headings and canonical sections. Headings inside fenced code blocks are code, not headings."""
    headings: list[str] = []
    sections: dict[str, list[str]] = {}
    current: str | None = None
    current_level = 0
    in_fence = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            level, text = len(m.group(1)), m.group(2).strip()
            headings.append(text)
            key = canonical_section(text) if level >= 2 else None
            if key is not None:
                current, current_level = key, level
                sections.setdefault(key, [])
                continue
            if current is not None and level <= current_level:
                current = None
            if current is None:
                continue
        if current is not None:
            sections[current].append(line)
    out = {k: "\n".join(v).strip() for k, v in sections.items()}
    return {k: v for k, v in out.items() if v}, tuple(headings)


# --------------------------------------------------------------------------------------------------------
# Documents


def _as_list(value: Any, split_commas: bool = False) -> tuple[str, ...]:
    """A list field given as a list, or as one scalar (tags may be "a, b"; an error pattern may hold commas)."""
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    parts = str(value).split(",") if split_commas else [str(value)]
    return tuple(v.strip() for v in parts if v.strip())


def _first_h1(body: str) -> str:
    in_fence = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m and len(m.group(1)) == 1:
            return m.group(2).strip()
    return ""


def parse_document(text: str, doc_id: str, path: str = "", metadata: dict[str, Any] | None = None) -> Document:
    """Parse one Markdown document. ``metadata`` (from a ``.metadata.json`` sidecar) extends the front matter.

    The title falls back to the first ``# heading``, then to the file name, so documents written without
    front matter are still searchable by what they are called.
    """
    name = path or doc_id
    front, body = split_front_matter(text[:MAX_DOC_CHARS], name)
    meta: dict[str, Any] = {k: v for k, v in front.items()}
    for k, v in (metadata or {}).items():
        meta.setdefault(k, v)
    title = str(front.get("title") or "").strip() or _first_h1(body) or doc_id.rsplit("/", 1)[-1]
    kind = str(meta.get("kind") or "runbook").strip().lower() or "runbook"
    sections, headings = split_sections(body)
    return Document(
        doc_id=doc_id,
        title=title,
        service=str(meta.get("service") or "").strip(),
        error_patterns=_as_list(meta.get("error_patterns")),
        tags=_as_list(meta.get("tags"), split_commas=True),
        kind=kind,
        metadata=meta,
        body=body.strip(),
        sections=sections,
        headings=headings,
        path=path,
    )


def _metadata_value(value: Any) -> Any:
    """Bedrock KB metadata values are either plain JSON or ``{"value": {"type": ..., "stringValue": ...}}``."""
    if isinstance(value, dict) and isinstance(value.get("value"), dict):
        v = value["value"]
        for k in ("stringValue", "numberValue", "booleanValue", "stringListValue"):
            if k in v:
                return v[k]
    return value


def read_metadata(md_path: Path) -> dict[str, Any]:
    """Read ``<file>.md.metadata.json`` beside a document (Bedrock KB sidecar format), if present."""
    sidecar = md_path.with_name(md_path.name + ".metadata.json")
    if not sidecar.is_file():
        return {}
    raw = sidecar.read_bytes()[:MAX_METADATA_BYTES + 1]
    if len(raw) > MAX_METADATA_BYTES:
        raise InputError(f"{sidecar.name}: metadata file is larger than {MAX_METADATA_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{sidecar.name}: not valid JSON: {exc}") from exc
    attrs = data.get("metadataAttributes") if isinstance(data, dict) else None
    if not isinstance(attrs, dict):
        raise InputError(f"{sidecar.name}: expected an object with 'metadataAttributes'")
    return {str(k): _metadata_value(v) for k, v in attrs.items()}


def doc_id_for(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel[:-3] if rel.endswith(".md") else rel


def iter_document_paths(root: Path) -> list[Path]:
    """Every ``*.md`` below root except the root README and anything under a hidden directory."""
    out = []
    for p in root.rglob("*.md"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts[:-1]):
            continue
        if len(rel.parts) == 1 and rel.name.lower() == "readme.md":
            continue
        if p.is_file():
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def load_document(path: Path, root: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not UTF-8 text") from exc
    return parse_document(text, doc_id_for(path, root), str(path), read_metadata(path))


def load_documents(root: Path) -> list[Document]:
    """Load every document below ``root``; doc ids are root-relative paths without ``.md``."""
    root = Path(root)
    return [load_document(p, root) for p in iter_document_paths(root)]


__all__ = [
    "CANONICAL_SECTIONS", "Document", "canonical_section", "doc_id_for", "iter_document_paths",
    "load_document", "load_documents", "parse_document", "parse_front_matter", "read_metadata",
    "split_front_matter", "split_sections",
]
