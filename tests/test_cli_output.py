"""What ``lore ask`` prints after an answer: sources marked by how they were cited, and
the notes on the checks."""

from __future__ import annotations

import pytest

from lore.cli_output import print_sources
from lore.types import Answer, Chunk, Citation, Hit, Passage, Source


def source(number: int, text: str) -> Source:
    chunk = Chunk(doc_id=f"d{number}", text=text, start=0, end=len(text), view=text)
    hit = Hit(chunk=chunk, score=1.0, source="hybrid", path=f"notes/d{number}.md")
    return Source(number, Passage(hit, text, 0, len(text)))


def test_notes_name_moved_inferred_and_uncited_citations(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    text = "Etna is on Sicily [2]. Vesuvius is near Naples. Nothing says this."
    sources = (source(1, "Etna is on Sicily."), source(2, "Vesuvius is near Naples."))
    citations = (Citation(1, 18, 21, (0, 22), support=1.0, written=2),
                 Citation(2, 47, 47, (23, 47), support=1.0, inferred=True))
    print_sources(Answer("q", text, sources, citations, uncited=((48, 67),)))
    out, err = capsys.readouterr()
    err = " ".join(err.split())  # the console wraps notes at its width
    assert "*[1] notes/d1.md" in out and "~[2] notes/d2.md" in out
    assert "moved: [2] to [1]" in err
    assert "cited by lore" in err and "1 sentence(s) cite no source" in err
