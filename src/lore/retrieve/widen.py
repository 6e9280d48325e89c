"""Widening a hit for the answer step: a chunk is what matched, its surroundings are what a
reader needs. ``parent`` gives the enclosing section (or the whole symbol of a split
function); ``window`` adds whole sentences on each side (sentence-window retrieval)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from lore.text.sentences import split_sentences
from lore.types import Chunk, Hit, Passage

Widen = Literal["none", "parent", "window"]
MAX_PARENT_CHARS = 6_000
"""A parent longer than this is too long to hand to a model whole; a sentence window is
used instead."""


def widen_hits(hits: Sequence[Hit], texts: Mapping[str, str], how: Widen, sentences: int = 2
               ) -> list[Passage]:
    """Each hit widened within its document's text (``texts`` by document id); a hit whose
    document is gone (removed since the search) keeps its chunk."""
    passages = []
    for hit in hits:
        text = texts.get(hit.chunk.doc_id)
        if text is None:
            passages.append(Passage(hit, hit.chunk.text, hit.chunk.start, hit.chunk.end))
            continue
        start, end = widen_span(text, hit.chunk, how, sentences)
        passages.append(Passage(hit, text[start:end], start, end))
    return passages


def widen_span(text: str, chunk: Chunk, how: Widen, sentences: int = 2) -> tuple[int, int]:
    """The ``(start, end)`` in the document ``text`` to show for ``chunk``.

    Example:
        >>> doc = "One. Two. Three. Four. Five."
        >>> c = Chunk(doc_id="d", text="Three.", start=10, end=16, view="Three.")
        >>> start, end = widen_span(doc, c, "window", sentences=1)
        >>> doc[start:end]
        'Two. Three. Four.'
    """
    if how == "none":
        return chunk.start, chunk.end
    if how == "parent" and chunk.parent is not None:
        start, end = chunk.parent
        if end - start <= MAX_PARENT_CHARS and start <= chunk.start and chunk.end <= end:
            return start, end
    return sentence_window(text, chunk.start, chunk.end, sentences)


def sentence_window(text: str, start: int, end: int, sentences: int) -> tuple[int, int]:
    """``[start, end)`` grown by ``sentences`` whole sentences before and after, never past
    a blank line (a paragraph or section boundary)."""
    lo = text.rfind("\n\n", 0, start)
    hi = text.find("\n\n", end)
    lo = 0 if lo < 0 else lo + 2
    hi = len(text) if hi < 0 else hi
    spans = split_sentences(text[lo:hi])
    before = [s for s in spans if s[1] + lo <= start]
    after = [s for s in spans if s[0] + lo >= end]
    new_start = before[max(0, len(before) - sentences)][0] + lo if sentences and before else start
    new_end = after[min(sentences, len(after)) - 1][1] + lo if sentences and after else end
    return min(new_start, start), max(new_end, end)
