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

_WORD = re.compile(r"[^\W_]+")


def fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def allowed_edits(word: str) -> int:
    """One edit for words of 4+ letters, two for 8+ (as the index's fuzzy queries)."""
    return 2 if len(word) >= 8 else 1 if len(word) >= 4 else 0


def within(a: str, b: str, limit: int) -> bool:
    """Whether the edit distance (Damerau: a swap of neighbours is one edit) is at most `limit`."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


def mark(text: str, words: Sequence[str], *, fuzzy: bool) -> str | None:
    """`text` escaped, with the words matching `words` in `<mark>`; None when none matches."""
    wanted = {fold(w) for w in words if w}
    if not wanted:
        return None
    out: list[str] = []
    position = 0
    found = False
    for match in _WORD.finditer(text):
        token = fold(match.group(0))
        hit = token in wanted or (
            fuzzy and any(allowed_edits(w) and within(token, w, allowed_edits(w)) for w in wanted)
        )
        if hit:
            found = True
            out.append(html.escape(text[position : match.start()], quote=False))
            out.append(f"<mark>{html.escape(match.group(0), quote=False)}</mark>")
            position = match.end()
    if not found:
        return None
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)
