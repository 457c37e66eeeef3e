"""Text analysis shared by indexing and querying: the same chain must run on both sides.

Log lines and alert descriptions are mostly identifiers and values: ``SQLTransientConnectionException``,
``limits.memory``, ``ip-10-0-7-23.eu-west-1.compute.internal``, ``92.19%``. Runbooks name the same things
in words ("Kube Pod Crash Looping", "connection pool"). The analyser therefore

1. masks values (numbers, hex ids, UUIDs, IPs, timestamps) that only ever match by accident;
2. splits identifiers on CamelCase, snake_case, dots, dashes and slashes, keeping the whole identifier too
   so an exact exception or metric name still matches exactly;
3. drops English stopwords and folds common suffixes ("filling"/"fills"/"filled" → "fill");
4. turns Hangul runs into character bigrams, which match Korean words whatever particle is attached
   ("디스크가" and "디스크" share "디스", "스크") without a morphological analyser.

Each step can be switched off (:class:`Analyzer` flags) so the benchmark can show what it adds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,10}://[^\s)\]>\"']+", re.I)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_IPV4 = re.compile(r"\b\d{1,3}(?:[.-]\d{1,3}){3}(?::\d+)?\b")
_IPV6 = re.compile(r"\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}\b", re.I)
_ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b")
_HEX = re.compile(r"\b(?:0x[0-9a-f]+|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,})\b", re.I)
_NUMBER = re.compile(r"(?<![A-Za-z\d])[-+]?\d+(?:[.,:]\d+)*(?:%|[a-z]{1,2}\b)?", re.I)

# An identifier: letters/digits joined by the separators code and infrastructure use.
_WORD = re.compile(r"[A-Za-z0-9]+(?:[._\-/:$'][A-Za-z0-9]+)*|[\uac00-\ud7a3]+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_HANGUL_RUN = re.compile(r"^[\uac00-\ud7a3]+$")
_SEPARATORS = re.compile(r"[._\-/:$']")

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can cannot could couldn't did didn't do does doesn't doing don't down during each few
for from further had hadn't has hasn't have haven't having he her here hers herself him himself his how i
if in into is isn't it it's its itself just let's me more most my myself no nor not of off on once only or
other ought our ours ourselves out over own same shan't she should shouldn't so some such than that that's
the their theirs them themselves then there there's these they this those through to too under until up
very was wasn't we were weren't what what's when where which while who whom why will with won't would
wouldn't you your yours yourself yourselves also may might must shall via per e.g i.e etc
""".split())


@dataclass(frozen=True)
class Analyzer:
    """One text analysis chain. All flags on is the product's behaviour; the benchmark turns them off."""

    mask_values: bool = True
    split_identifiers: bool = True
    keep_original: bool = True
    stem: bool = True
    stopwords: bool = True
    hangul_bigrams: bool = True
    negation: bool = True
    min_len: int = 2

    def key(self) -> str:
        """Identifies the chain in an on-disk index, so a change of analyser forces a rebuild."""
        flags = (self.mask_values, self.split_identifiers, self.keep_original, self.stem, self.stopwords,
                 self.hangul_bigrams, self.negation)
        return "".join("1" if f else "0" for f in flags) + f"-{self.min_len}"

    def tokens(self, text: str, opaque: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """Analyse ``text`` into index terms, in order (duplicates kept: they are term frequency).

        Identifiers in ``opaque`` (lower case, separators removed) stay whole: the index passes the names
        of *other* documents, because a runbook that says "see NodeFilesystemSpaceFillingUp" is not about
        filesystem space filling up.
        """
        if self.mask_values:
            text = mask_values(text)
        out: list[str] = []
        neg = _Negation() if self.negation else None
        for m in _WORD.finditer(text):
            word = m.group(0)
            if _HANGUL_RUN.match(word):
                out.extend(hangul_grams(word) if self.hangul_bigrams else [word])
                continue
            if neg is not None and word.lower() in NEGATIONS:
                neg.arm()
                continue
            if opaque and _SEPARATORS.sub("", word).lower() in opaque:
                out.append(_SEPARATORS.sub("", word).lower())
                continue
            parts = split_identifier(word) if self.split_identifiers else [word]
            compound = len(parts) > 1 or (self.split_identifiers and _SEPARATORS.search(word) is not None)
            for p in parts:
                low = p.lower()
                if neg is not None and low in NEGATIONS:
                    neg.arm()
                    continue
                emitted = self._emit(low, out)
                if neg is not None:
                    if emitted is not None:
                        if neg.armed():
                            out.append("not_" + emitted)
                        elif low.startswith("un") and len(low) >= 7:
                            out.append("not_" + (stem(low[2:]) if self.stem else low[2:]))
                        neg.consume()
                    else:
                        neg.skip()
            if compound and self.keep_original:
                whole = _SEPARATORS.sub("", word).lower() if self.split_identifiers else word.lower()
                if not whole.isdigit() and whole not in out[-len(parts):]:
                    out.append(whole)
        return out

    def _emit(self, token: str, out: list[str]) -> str | None:
        if len(token) < self.min_len or token.isdigit():
            return None
        if self.stopwords and token in STOPWORDS:
            return None
        term = stem(token) if self.stem else token
        out.append(term)
        return term


#: Words that negate the next content word. Alert names and messages say the same thing many ways —
#: "NotReady", "is not ready", "isn't ready", "non-ready", "unready" — all become the term ``not_readi``.
NEGATIONS = frozenset("not no non never isn't aren't wasn't weren't don't doesn't didn't cannot can't "
                      "couldn't won't without isn aren wasn weren doesn didn couldn".split())


class _Negation:
    """Carries a negation over at most two stopwords to the next content word ("not in a Ready state")."""

    def __init__(self) -> None:
        self._budget = 0

    def arm(self) -> None:
        self._budget = 3

    def armed(self) -> bool:
        return self._budget > 0

    def consume(self) -> None:
        self._budget = 0

    def skip(self) -> None:
        self._budget = max(0, self._budget - 1)


def mask_values(text: str) -> str:
    """Blank out values that differ between occurrences of the same problem and never mean anything."""
    for pattern in (_URL, _UUID, _ISO_TIME, _IPV4, _IPV6, _HEX, _NUMBER):
        text = pattern.sub(" ", text)
    return text


def split_identifier(word: str) -> list[str]:
    """``SQLTransientConnectionException`` → SQL Transient Connection Exception; ``limits.memory`` → limits memory."""
    out: list[str] = []
    for chunk in _SEPARATORS.split(word):
        out.extend(_PART.findall(chunk) or ([chunk] if chunk else []))
    return out


def hangul_grams(run: str) -> list[str]:
    """Character bigrams of a Hangul run (a one-syllable run stays whole)."""
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


_VOWEL = re.compile(r"[aeiouy]")
_SUFFIXES = ("ational", "ization", "iations", "iation", "ations", "ation", "ition", "ments", "ment", "ness",
             "ingly", "ings", "ing", "edly", "ed", "ers", "er", "ies", "ily", "ly", "ability", "able", "ible", "ful", "ous",
             "ive", "ize", "ise", "es", "s")
_KEEP_S = ("ss", "us", "is")


def stem(token: str) -> str:
    """A light suffix stripper: folds inflections so "fills", "filling" and "filled" meet at "fill".

    It need not produce words, only the same stem for forms of one word; it errs on the side of leaving
    short words alone (≤ 4 letters), where stripping does more harm than good.
    """
    if len(token) <= 4 or not token.isascii() or not token.isalpha():
        return token
    word = token
    for suf in _SUFFIXES:
        if not word.endswith(suf):
            continue
        base = word[: -len(suf)]
        if suf == "s" and word.endswith(_KEEP_S):
            break
        if suf == "ies":
            word = base + "y"
            break
        if suf == "es" and not re.search(r"(?:ss|sh|ch|x|z)$", base):
            word = word[:-1]  # "caches" → "cache" (then the final e goes below); "boxes" → "box"
            break
        if len(base) >= 3 and _VOWEL.search(base):
            word = base
            if re.search(r"([b-df-hj-np-tv-z])\1$", word) and not word.endswith(("ll", "ss", "zz")):
                word = word[:-1]  # "running" → "runn" → "run"
        break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ur"):
        word = word[:-2]  # "failure"/"failed", "configure"/"configuration" meet at "fail", "config"
    if len(word) > 3 and word.endswith("y"):
        word = word[:-1] + "i"
    return word


DEFAULT_ANALYZER = Analyzer()

__all__ = ["Analyzer", "DEFAULT_ANALYZER", "STOPWORDS", "hangul_grams", "mask_values", "split_identifier", "stem"]
