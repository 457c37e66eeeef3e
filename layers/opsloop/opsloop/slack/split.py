"""Splitting a long Slack reply at paragraph, then sentence, then word boundaries (never mid-word).

A section block holds 3000 characters; opsloop keeps each piece under :data:`PIECE_MAX` so a reply that
would not fit becomes several thread messages that each read as whole paragraphs or sentences.
"""

from __future__ import annotations

import re

PIECE_MAX = 2900
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def _units(text: str, limit: int) -> list[tuple[str, str]]:
    """(piece, joiner before it): paragraphs whole when they fit, else lines, sentences, then words."""
    out: list[tuple[str, str]] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        levels = [(paragraph.split("\n"), "\n")] if len(paragraph) > limit else [([paragraph], "\n\n")]
        first = True
        for line in levels[0][0]:
            pieces = [line] if len(line) <= limit else _SENTENCE_END.split(line)
            for sentence in pieces:
                words = [sentence] if len(sentence) <= limit else sentence.split(" ")
                for word in words:
                    # one "word" longer than a message (a pasted blob): the only place a cut happens
                    for i in range(0, max(len(word), 1), limit):
                        joiner = "\n\n" if first else (" " if len(pieces) > 1 or len(words) > 1 else "\n")
                        out.append((word[i:i + limit], joiner))
                        first = False
    return out


def split_text(text: str, limit: int = PIECE_MAX) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at the largest boundary that makes them fit."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for unit, joiner in _units(text, limit):
        candidate = f"{current}{joiner}{unit}" if current else unit
        if len(candidate) <= limit:
            current = candidate
            continue
        pieces.append(current)
        current = unit
    if current:
        pieces.append(current)
    return pieces


__all__ = ["PIECE_MAX", "split_text"]
