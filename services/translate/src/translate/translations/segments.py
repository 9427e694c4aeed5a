"""Splitting an HTML text that is longer than a provider takes in one request, and joining the
translated parts again, without breaking the markup.

A status's content is sanitised HTML (`<p>`, `<br />`, `<a>`, `<span>`): paragraphs of inline
text and elements. A text within the limit goes whole. A longer one is cut between top-level
elements first; an element still too long is opened, and its children cut the same way with its
start and end tags kept aside; a run of text still too long is cut between sentences (sentencex,
for the text's language), then between words, and only as a last resort inside a word. Every part
sent is well-formed HTML (providers translating `textType=html` require it), the tags and the
whitespace around each part are kept aside untranslated, and joining puts everything back in
order."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sentencex

# A tag, its attribute values quoted (a sanitiser's output always quotes them), or a comment.
_TAG = re.compile(r"""<!--.*?-->|<(?:[^>"']|"[^"]*"|'[^']*')*>""", re.DOTALL)
_VOID = frozenset({"br", "hr", "img", "wbr"})
_WORD_BREAK = re.compile(r"(?<=\s)(?=\S)")
# `&CounterClockwiseContourIntegral;` is the longest named character reference.
_LONGEST_REFERENCE = 33
_EDGE_SPACE = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)


@dataclass(frozen=True)
class Part:
    """A piece of the text: translated when `translate`, else kept as is (tags, whitespace)."""

    text: str
    translate: bool


@dataclass(frozen=True)
class _Node:
    """A top-level piece of an HTML fragment: a text run, a void tag, or an element with its
    start tag, inner HTML and end tag."""

    raw: str
    start: str = ""
    inner: str = ""
    end: str = ""

    @property
    def is_element(self) -> bool:
        return bool(self.start)


def _tag_name(tag: str) -> str:
    match = re.match(r"</?\s*([A-Za-z][A-Za-z0-9-]*)", tag)
    return match.group(1).lower() if match else ""


def _nodes(fragment: str) -> Iterator[_Node]:
    """The top-level nodes of a well-formed fragment (an unbalanced one is one text-like node per
    stray tag: never lost, just not opened)."""
    position = 0
    depth = 0
    start_tag = ""
    start_at = inner_at = 0
    for match in _TAG.finditer(fragment):
        tag = match.group(0)
        if depth == 0 and match.start() > position:
            yield _Node(fragment[position : match.start()])
        name = _tag_name(tag)
        closing = tag.startswith("</")
        void = tag.startswith("<!--") or name in _VOID or tag.rstrip(">").endswith("/") or not name
        if depth == 0:
            if void or closing:
                yield _Node(tag)
            else:
                depth, start_tag, start_at, inner_at = 1, tag, match.start(), match.end()
            position = match.end()
            continue
        if not void:
            depth += -1 if closing else 1
        if depth == 0:
            yield _Node(
                fragment[start_at : match.end()],
                start=start_tag,
                inner=fragment[inner_at : match.start()],
                end=tag,
            )
            position = match.end()
    if depth > 0:  # unbalanced: what is left goes as it is
        yield _Node(fragment[start_at:])
    elif position < len(fragment):
        yield _Node(fragment[position:])


def _text_units(text: str, limit: int, language: str | None) -> list[str]:
    """A run of (escaped) text cut into pieces of at most `limit` characters: sentences, then
    words, then characters; the pieces join back into the same text."""
    sentences = [
        html.escape(s, quote=False)
        for s in sentencex.segment((language or "en").split("-")[0], html.unescape(text))
    ]
    if "".join(sentences) != text:
        # The escaping came back different (e.g. a numeric entity): cut the original by words.
        sentences = [text]
    units: list[str] = []
    for sentence in sentences:
        if len(sentence) <= limit:
            units.append(sentence)
            continue
        for word in _WORD_BREAK.split(sentence):
            while len(word) > limit:
                cut = _safe_cut(word, limit)
                units.append(word[:cut])
                word = word[cut:]
            units.append(word)
    return units


def _safe_cut(text: str, limit: int) -> int:
    """Where to cut `text` at most `limit` characters in, not inside a character reference."""
    cut = limit
    amp = text.rfind("&", 0, cut)
    if amp != -1 and cut - amp < _LONGEST_REFERENCE:
        semicolon = text.find(";", amp)
        if cut <= semicolon < amp + _LONGEST_REFERENCE:
            cut = amp
    return max(cut, 1)


def _units(fragment: str, limit: int, language: str | None) -> list[Part]:
    """The fragment as parts to translate of at most `limit` characters each (not yet packed
    together), and the tags kept aside."""
    parts: list[Part] = []
    for node in _nodes(fragment):
        if len(node.raw) <= limit:
            parts.append(Part(node.raw, True))
        elif node.is_element:
            parts.append(Part(node.start, False))
            parts.extend(_units(node.inner, limit, language))
            parts.append(Part(node.end, False))
        elif node.raw.startswith("<"):
            parts.append(Part(node.raw, False))  # a stray tag longer than the limit: kept as is
        else:
            parts.extend(Part(unit, True) for unit in _text_units(node.raw, limit, language))
    return parts


def _with_edges_kept(parts: Iterable[Part]) -> Iterator[Part]:
    """Whitespace around a part to translate is kept aside (providers trim it)."""
    for part in parts:
        if not part.translate:
            yield part
            continue
        match = _EDGE_SPACE.match(part.text)
        assert match is not None
        before, middle, after = match.groups()
        if before:
            yield Part(before, False)
        if middle:
            yield Part(middle, True)
        if after:
            yield Part(after, False)


def split(fragment: str, limit: int, language: str | None = None) -> list[Part]:
    """`fragment` as parts that join back into it; those to translate are at most `limit`
    characters each, as few as the limit allows (neighbours are packed together)."""
    if len(fragment) <= limit:
        return list(_with_edges_kept([Part(fragment, True)]))
    packed: list[Part] = []
    for part in _units(fragment, limit, language):
        last = packed[-1] if packed else None
        if (
            part.translate
            and last is not None
            and last.translate
            and len(last.text) + len(part.text) <= limit
        ):
            packed[-1] = Part(last.text + part.text, True)
        else:
            packed.append(part)
    return list(_with_edges_kept(packed))


def join(parts: Iterable[Part], translations: Iterable[str]) -> str:
    """The parts put back together, each part to translate replaced by the next translation."""
    pending = iter(translations)
    return "".join(next(pending) if part.translate else part.text for part in parts)
