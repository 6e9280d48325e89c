"""Fitting BM25's k1 and b and the fusion weight to a knowledge base's own pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.fitting import fit_tuning
from lore.retrieve.tuning import Tuning
from lore.train.pairs import load_pairs

from .test_learning import corpus, pairs_file  # noqa: F401  (fixtures)

BAD = Tuning(k1=0.0, b=1.0, lexical_weight=0.05)
"""Term counts ignored and the lexical list all but silenced: worse than any grid point."""


def test_parameters_that_beat_the_current_ones_on_held_out_queries_are_kept(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:  # noqa: F811
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        kb.tune(BAD, save=True)
        fit = fit_tuning(kb, load_pairs(pairs_file), held_out=0.3)
        assert fit.before == BAD and fit.kept and kb.tuning == fit.fitted
        assert fit.held_out["fitted"]["ndcg@10"] > fit.held_out["before"]["ndcg@10"]
        assert fit.queries == (17, 7)
    with lore.open(tmp_path / "kb") as kb:  # recorded for every later opening
        assert kb.tuning == fit.fitted and kb.status().tuning == fit.fitted.describe()


def test_parameters_no_better_on_held_out_queries_change_nothing(
        tmp_path: Path, corpus: Path, pairs_file: Path) -> None:  # noqa: F811
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([corpus])
        fit = fit_tuning(kb, load_pairs(pairs_file), held_out=0.3)
        assert not fit.kept and kb.tuning == Tuning()
        assert fit.held_out["fitted"]["ndcg@10"] <= fit.held_out["before"]["ndcg@10"]
    with lore.open(tmp_path / "kb") as kb:
        assert kb.status().tuning == "defaults"


def test_the_command_reports_the_fit(tmp_path: Path, corpus: Path, pairs_file: Path,  # noqa: F811
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LORE_HOME", raising=False)
    kb = str(tmp_path / "kb")
    runner = CliRunner()
    assert runner.invoke(main, ["index", str(corpus), "--kb", kb, "--model", "hash"]
                         ).exit_code == 0
    result = runner.invoke(main, ["train", "params", "--pairs", str(pairs_file), "--kb", kb])
    assert result.exit_code == 0, result.output
    assert "fitted on 19 queries: BM25 k1" in result.stdout and "not kept" in result.stdout
