"""Building numbered sources from plain text, for tests of prompts, citations and output."""

from __future__ import annotations

from lore.types import Chunk, Hit, Passage, Source


def text_source(number: int, text: str, title: str = "", score: float = 1.0) -> Source:
    """Source ``number``: all of ``text``, as one chunk of ``notes/doc{number}.md``."""
    chunk = Chunk(doc_id=f"doc{number}", text=text, start=0, end=len(text), view=text)
    hit = Hit(chunk=chunk, score=score, source="hybrid", path=f"notes/doc{number}.md",
              title=title)
    return Source(number, Passage(hit, text, 0, len(text)))
