"""``lore eval retrieval`` end to end on a small BEIR set, checked against pytrec_eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lore.cli import main
from lore.config import GenerateConfig, LoreConfig
from lore.eval.beir import load_beir
from lore.eval.retrieval import EvalSettings, document_ranking, evaluate, open_indexed
from lore.testing.fakes import ScriptedGenerator
from lore.types import Chunk, Hit

pytrec_eval = pytest.importorskip("pytrec_eval")

TOPICS = {
    "cache": "A cache keeps recently used entries in memory and evicts the least recently used.",
    "retry": "Retries repeat a failed request after a delay that grows exponentially.",
    "index": "An inverted index maps each term to the documents that contain it.",
    "vector": "Vector search finds the nearest embeddings by cosine similarity.",
    "lock": "A lock lets one writer at a time change the shared file.",
    "queue": "A queue delivers messages in the order they were sent.",
    "hash": "A hash function maps keys to buckets spread evenly across a table.",
    "tree": "A balanced tree keeps lookups logarithmic as keys are inserted.",
    "log": "A write-ahead log records each change before it is applied.",
    "shard": "Sharding splits a collection across machines by a key range.",
}
QUERIES = {
    "q-cache": ("which entries does the cache evict", {"cache": 2, "hash": 1}),
    "q-retry": ("how long to wait before retrying a request", {"retry": 1}),
    "q-index": ("which documents contain a term", {"index": 2, "vector": 1}),
    "q-lock": ("only one writer may change the file", {"lock": 1}),
    "q-log": ("record changes before applying them", {"log": 1, "lock": 1}),
    "q-shard": ("split data across machines", {"shard": 1}),
    "q-queue": ("messages arrive in order", {"queue": 1}),
    "q-tree": ("logarithmic lookups", {"tree": 1}),
}


def write_set(root: Path) -> Path:
    root.mkdir()
    lines = []
    for key, text in TOPICS.items():
        # Long filler makes some documents span several chunks, so aggregation matters.
        body = text + (" " + " ".join(f"{key} detail {i} of the design." for i in range(120))
                       if key in ("cache", "index") else "")
        lines.append(json.dumps({"_id": key, "title": key.title(), "text": body}))
    lines.append(json.dumps({"_id": "q-tree", "title": "", "text": "logarithmic lookups"}))
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    (root / "queries.jsonl").write_text("".join(
        json.dumps({"_id": qid, "text": text}) + "\n" for qid, (text, _) in QUERIES.items()))
    (root / "qrels").mkdir()
    rows = ["query-id\tcorpus-id\tscore"] + [
        f"{qid}\t{doc}\t{grade}" for qid, (_, rel) in QUERIES.items() for doc, grade in rel.items()]
    (root / "qrels" / "test.tsv").write_text("\r\n".join(rows) + "\r\n")
    return root


@pytest.fixture(scope="module")
def beir_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_set(tmp_path_factory.mktemp("data") / "tiny")


def reference(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    scored = {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in run.items()}
    measures = {"ndcg_cut.10", "recall.10", "recall.100", "recip_rank"}
    cut = {q: {d: s for d, s in docs.items() if s > len(docs) - 10} for q, docs in scored.items()}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(scored)
    top = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    mean = {name: sum(v[name] for v in full.values()) / len(full)
            for name in ("ndcg_cut_10", "recall_10", "recall_100")}
    mean["recip_rank_10"] = sum(v["recip_rank"] for v in top.values()) / len(top)
    return mean


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_metrics_match_pytrec_eval_on_a_real_run(beir_set: Path, tmp_path: Path,
                                                 mode: str) -> None:
    dataset = load_beir(beir_set)
    config = LoreConfig()
    with open_indexed(dataset, tmp_path / "cache", config, model="minilm") as kb:
        report, traces = evaluate(kb, dataset, EvalSettings(mode=mode))  # type: ignore[arg-type]
    run = {t.id: t.documents for t in traces}
    expected = reference(run, dataset.qrels)
    assert report.metrics["ndcg@10"] == pytest.approx(expected["ndcg_cut_10"], abs=1e-4)
    assert report.metrics["recall@10"] == pytest.approx(expected["recall_10"], abs=1e-4)
    assert report.metrics["recall@100"] == pytest.approx(expected["recall_100"], abs=1e-4)
    assert report.metrics["mrr@10"] == pytest.approx(expected["recip_rank_10"], abs=1e-4)
    assert report.queries == len(QUERIES) and report.metrics["ndcg@10"] > 0.5
    long_doc = next(t for t in traces if t.id == "q-cache")
    assert long_doc.documents.count("cache") == 1  # chunks of one document rank it once


def test_identical_ids_can_be_ignored(beir_set: Path, tmp_path: Path) -> None:
    dataset = load_beir(beir_set)
    config = LoreConfig()
    with open_indexed(dataset, tmp_path / "cache", config, model="hash") as kb:
        _, kept = evaluate(kb, dataset, EvalSettings(mode="lexical"))
        _, dropped = evaluate(kb, dataset, EvalSettings(mode="lexical",
                                                        ignore_identical_ids=True))
    tree = {t.id: t for t in kept}["q-tree"], {t.id: t for t in dropped}["q-tree"]
    assert "q-tree" in tree[0].documents and "q-tree" not in tree[1].documents


def test_second_open_reuses_the_cached_index(beir_set: Path, tmp_path: Path) -> None:
    dataset = load_beir(beir_set)
    with open_indexed(dataset, tmp_path / "cache", LoreConfig(), model="hash") as kb:
        first = kb.status()
    with open_indexed(dataset, tmp_path / "cache", LoreConfig(), model="hash") as kb:
        assert kb.status().last_update == first.last_update
    assert len(list((tmp_path / "cache").iterdir())) == 1


def hit(doc: str, start: int) -> Hit:
    chunk = Chunk(doc_id=doc, text="x", start=start, end=start + 1, view="x")
    return Hit(chunk=chunk, score=1.0, source="lexical", path="corpus.jsonl", doc_key=doc)


def test_max_and_first_passage_aggregation() -> None:
    hits = [hit("a", 500), hit("b", 0), hit("a", 0), hit("c", 900), hit("b", 300)]
    assert document_ranking(hits, "max") == ["a", "b", "c"]
    assert document_ranking(hits, "first") == ["b", "a"]


def test_cli_compare_writes_table_json_picture_and_traces(beir_set: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORE_MODEL", "hash")
    out, trace = tmp_path / "report", tmp_path / "trace.jsonl"
    result = CliRunner().invoke(main, [
        "eval", "retrieval", str(beir_set), "--compare", "lexical,hybrid", "--out", str(out),
        "--trace", str(trace), "--cache", str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert [r["mode"] for r in reports] == ["lexical", "hybrid"]
    assert set(reports[0]["metrics"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    assert (out / "retrieval.md").read_text().count("| tiny |") == 2
    assert (out / "recall_latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(lines) == 2 * len(QUERIES)
    assert {"doc", "score", "scores", "ranks"} <= set(lines[0]["hits"][0])


def test_cli_names_a_missing_split(beir_set: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "retrieval", str(beir_set), "--split", "dev",
                                       "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 2 and "splits in" in result.stderr


def test_a_rewriting_strategy_ranks_with_its_queries(beir_set: Path, tmp_path: Path,
                                                     scripted: ScriptedGenerator) -> None:
    dataset = load_beir(beir_set)
    config = LoreConfig(generate=GenerateConfig(model="scripted"))
    scripted.script("a passage")
    with open_indexed(dataset, tmp_path / "cache", config, model="hash") as kb:
        report, traces = evaluate(kb, dataset, EvalSettings(mode="hybrid", strategy="hyde"))
    assert report.settings["strategy"] == "hyde" and len(traces) == len(QUERIES)
    hyde_calls = [m for m in scripted.asked if "encyclopedia" in m[-1].content]
    assert len(hyde_calls) == len(QUERIES)
