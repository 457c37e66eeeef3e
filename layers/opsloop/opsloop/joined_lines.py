"""Lines of a batch joined into one text: where each begins, and which of them hold a given substring.

Batch redaction and batch fingerprints search a whole joined batch at once (one substring search in C
instead of one per line) and map what they find back to lines. Works on ``str`` and on ``bytes``.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Sequence


def line_starts(lines: Sequence[str] | Sequence[bytes], separator_length: int) -> list[int]:
    """Where each line begins in ``separator.join(lines)``; one more entry lies past the end."""
    return list(accumulate(map(separator_length.__add__, map(len, lines)), initial=0))


def lines_with(blob: str | bytes, needle: str | bytes, starts: list[int], into: set[int]) -> None:
    """Add to ``into`` the index of every line of ``blob`` (lines begin at ``starts``) holding ``needle``,
    which must not contain the separator. One search per line that holds it, at most."""
    find = blob.find
    p = find(needle)
    while p >= 0:
        k = bisect_right(starts, p) - 1
        into.add(k)
        p = find(needle, starts[k + 1])


__all__ = ["line_starts", "lines_with"]
