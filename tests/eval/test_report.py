from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lore.errors import MissingDependency
from lore.eval.report import markdown_table, plot_recall_latency
from lore.eval.retrieval import METRICS, RetrievalReport

REPORT = RetrievalReport(dataset="d", split="test", mode="hybrid", embedder="hash", queries=1,
                         metrics=dict.fromkeys(METRICS, 0.5),
                         latency_ms={"median": 1.0, "p90": 2.0}, seconds=1.0, settings={})


def test_the_table_has_a_row_per_report() -> None:
    lines = markdown_table([REPORT, REPORT]).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| d | hybrid | hash | 1 |")


def test_without_matplotlib_the_plot_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(MissingDependency, match=r"pip install 'lore\[plots\]'") as error:
        plot_recall_latency([REPORT], tmp_path / "plot.png")
    assert "\n" not in str(error.value)
