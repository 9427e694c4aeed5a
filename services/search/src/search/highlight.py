"""Highlights computed from the status's text: the words a query matched, marked with `<mark>` in
the text as typed (escaped HTML). Used where the index doesn't give them (the embedded index, whose
stored-document reads would cost more than the search itself); Elasticsearch highlights itself.

A word of the text matches a query word when both fold to the same letters (lower case, accents
removed), or, with typo tolerance, when it is within the query word's edit distance."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from rapidfuzz.distance import OSA

_WORD = re.compile(r"[^\W_]+")


def fold(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def allowed_edits(word: str) -> int:
    """One edit for words of 4+ letters, two for 8+ (as the index's fuzzy queries)."""
    return 2 if len(word) >= 8 else 1 if len(word) >= 4 else 0


def within(a: str, b: str, limit: int) -> bool:
    """Whether the edit distance is at most `limit`, a swap of neighbours counting as one edit (the
    optimal string alignment distance, as the index's fuzzy queries count)."""
    return bool(OSA.distance(a, b, score_cutoff=limit) <= limit)


def mark(text: str, words: Sequence[str], *, fuzzy: bool) -> str | None:
    """`text` escaped, with the words matching `words` in `<mark>`; None when none matches."""
    wanted = {fold(w) for w in words if w}
    if not wanted:
        return None
    typo_words = [(w, allowed_edits(w)) for w in wanted if allowed_edits(w)] if fuzzy else []
    out: list[str] = []
    position = 0
    found = False
    for match in _WORD.finditer(text):
        token = fold(match.group(0))
        hit = token in wanted or any(within(token, w, edits) for w, edits in typo_words)
        if hit:
            found = True
            out.append(html.escape(text[position : match.start()], quote=False))
            out.append(f"<mark>{html.escape(match.group(0), quote=False)}</mark>")
            position = match.end()
    if not found:
        return None
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)
