"""Training the router on traces: labels, the classifier, the catalog, and ``auto`` using
it. Real knowledge base (hash vectors), real trace files, the scripted generator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lore
from lore.api import KnowledgeBase
from lore.cli import main
from lore.errors import ConfigError
from lore.query.classifier import fit, labels_from_traces, read_traces
from lore.testing.fakes import ScriptedGenerator

PEOPLE = ["Ada Park", "Mira Holt", "Tom Vann", "Lea Sund", "Ivo Marr", "Kai Berg", "Uma Tell",
          "Rob Dane", "Nia Fold", "Ole Brand", "Pia Roth", "Sam Kerr", "Eli Moss", "Zoe Hart",
          "Ian Pike", "Ava Lind", "Max Ruhl", "Ivy Crane", "Leo Stark", "Mia Fenn", "Ray Gale",
          "Amy Nord"]


def record(qid: str, question: str, strategy: str, f1: float, calls: int) -> dict[str, object]:
    return {"id": qid, "question": question, "strategy": strategy, "model_calls": calls,
            "scores": {"f1": f1}}


@pytest.fixture
def traces(tmp_path: Path) -> list[Path]:
    """Bridge questions ("...born?") answered only by iterative; the others by both, so the
    cheaper single wins them."""
    single, iterative = [], []
    for n, person in enumerate(PEOPLE):
        bridge = f"Where was the colleague of {person} born?"
        direct = f"What did {person} write?"
        single += [record(f"b{n}", bridge, "single", 0.0, 1), record(f"d{n}", direct, "single",
                                                                        1.0, 1)]
        iterative += [record(f"b{n}", bridge, "iterative", 1.0, 3),
                      record(f"d{n}", direct, "iterative", 1.0, 3)]
    paths = []
    for name, rows in (("single", single), ("iterative", iterative)):
        paths.append(tmp_path / f"{name}.jsonl")
        paths[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "park.md").write_text("# Ada Park\n\nAda Park was born in Oslo.\n")
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([tmp_path / "notes"])
        yield base


def test_each_question_goes_to_its_best_strategy_a_tie_to_the_cheaper(
        traces: list[Path]) -> None:
    labelled = {item.id: item.strategy for item in labels_from_traces(read_traces(traces))}
    assert labelled["b0"] == "iterative" and labelled["d0"] == "single"
    assert len(labelled) == 2 * len(PEOPLE)


def test_traces_must_name_one_strategy_each_and_two_in_all(tmp_path: Path,
                                                          traces: list[Path]) -> None:
    with pytest.raises(ConfigError, match="at least two strategies"):
        read_traces(traces[:1])
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(record("x", "q", "single", 1, 1)) + "\n"
                     + json.dumps(record("y", "q", "iterative", 1, 1)) + "\n")
    with pytest.raises(ConfigError, match="one strategy"):
        read_traces([mixed, traces[0]])


def test_the_classifier_separates_what_is_separable_and_repeats_itself() -> None:
    rows = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], dtype=np.float32)
    labels = ["a", "a", "b", "b"]
    first, again = fit(rows, labels, ["a", "b"]), fit(rows, labels, ["a", "b"])
    assert [first.strategies[i] for i in first.scores(rows).argmax(axis=1)] == labels
    assert np.array_equal(first.weights, again.weights)


def test_a_trained_router_is_published_measured_and_used_by_auto(
        kb: KnowledgeBase, traces: list[Path], scripted: ScriptedGenerator) -> None:
    model = kb.train_router(traces, held_out=0.3)
    assert model.kind == "router" and model.spec == "trained:router-1"
    assert model.data.held_out > 0 and model.data.pairs + model.data.held_out == 44
    assert model.metrics["after"]["accuracy"] >= 0.9
    metrics = model.metrics  # F1 had each held-out question gone where the router sends it
    assert metrics["always iterative"]["f1"] == 1.0 > metrics["always single"]["f1"]
    assert metrics["after"]["f1"] > metrics["always single"]["f1"]
    assert set(model.settings["strategies"]) == {"single", "iterative"}
    scripted.script("Oslo [1].")
    planning = replace(kb.config.query, router=model.spec)
    answer = kb.ask("Where was the colleague of Ada Park born?", model="scripted",
                    strategy="auto", planning=planning)
    assert answer.steps[0].kind == "route" and "trained router" in answer.steps[0].text
    assert answer.strategy == "iterative"


def test_lore_train_router_reports_the_held_out_accuracy(kb: KnowledgeBase,
                                                        traces: list[Path]) -> None:
    result = CliRunner().invoke(main, ["train", "router", "--kb", str(kb.directory),
                                       "--traces", str(traces[0]), "--traces",
                                       str(traces[1]), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["kind"] == "router" and "accuracy" in body["metrics"]["after"]
    listed = CliRunner().invoke(main, ["models", "list", "--kb", str(kb.directory)])
    assert listed.exit_code == 0 and "router over" in listed.stdout
