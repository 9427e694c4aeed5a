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


class Marker:
    """Marks the words matching `words` in texts; one per search, so that what it learnt about a
    word (a match or not) serves every text of the page: the words of a page repeat a lot, and
    an edit distance per word and query word was most of a search's rendering time."""

    def __init__(self, words: Sequence[str], *, fuzzy: bool):
        self.wanted = {fold(w) for w in words if w}
        self.typo_words = [(w, allowed_edits(w)) for w in self.wanted if allowed_edits(w)] if fuzzy else []
        self._seen: dict[str, bool] = {}

    def matches(self, word: str) -> bool:
        known = self._seen.get(word)
        if known is None:
            token = fold(word)
            known = token in self.wanted or any(
                abs(len(token) - len(w)) <= edits and within(token, w, edits) for w, edits in self.typo_words
            )
            self._seen[word] = known
        return known

    def mark(self, text: str) -> str | None:
        """`text` escaped, with the matching words in `<mark>`; None when none matches."""
        if not self.wanted:
            return None
        out: list[str] = []
        position = 0
        for match in _WORD.finditer(text):
            if self.matches(match.group(0)):
                out.append(html.escape(text[position : match.start()], quote=False))
                out.append(f"<mark>{html.escape(match.group(0), quote=False)}</mark>")
                position = match.end()
        if not out:
            return None
        out.append(html.escape(text[position:], quote=False))
        return "".join(out)
