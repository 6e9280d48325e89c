"""What the CLI prints: after an answer, sources marked by how they were cited and the notes
on the checks; during training, each stage's rate."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from lore.cli_output import RateColumn, print_sources
from lore.testing.sources import text_source
from lore.types import Answer, Citation


def test_notes_name_moved_inferred_and_uncited_citations(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    text = "Etna is on Sicily [2]. Vesuvius is near Naples. Nothing says this."
    sources = (text_source(1, "Etna is on Sicily."),
               text_source(2, "Vesuvius is near Naples."))
    citations = (Citation(1, 18, 21, (0, 22), support=1.0, written=2),
                 Citation(2, 47, 47, (23, 47), support=1.0, inferred=True))
    print_sources(Answer("q", text, sources, citations, uncited=((48, 67),)))
    out, err = capsys.readouterr()
    err = " ".join(err.split())  # the console wraps notes at its width
    assert "*[1] notes/doc1.md" in out and "~[2] notes/doc2.md" in out
    assert "moved: [2] to [1]" in err
    assert "cited by lore" in err and "1 sentence(s) cite no source" in err


def test_a_stage_shows_items_a_second_once_measured() -> None:
    now = [100.0]
    progress = Progress(disable=True, get_time=lambda: now[0])
    task = progress.add_task("score", total=10)
    column = RateColumn()
    assert column.render(progress.tasks[task]).plain == ""
    progress.update(task, completed=2)
    now[0] = 104.0
    progress.update(task, completed=6)
    assert column.render(progress.tasks[task]).plain == "1.00/s"
