"""Reading BEIR folders: CRLF judgments, headers, limits, and never the query metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lore.errors import ConfigError
from lore.eval.beir import load_beir, read_qrels, splits


def write_set(root: Path, qrels: str = "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td2\t2\r\n"
              ) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    docs = [{"_id": "d1", "title": "Cats", "text": "Cats purr."},
            {"_id": "d2", "title": "Dogs", "text": "Dogs bark."}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "do cats purr", "metadata": {"answer": "d1 says yes"}},
               {"_id": "q2", "text": "do dogs bark"}, {"_id": "q3", "text": "unjudged"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(qrels, newline="")
    return root


def test_reads_judged_queries_with_crlf_and_header(tmp_path: Path) -> None:
    data = load_beir(write_set(tmp_path / "set"))
    assert data.queries == {"q1": "do cats purr", "q2": "do dogs bark"}
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    assert data.name == "set" and data.corpus.name == "corpus.jsonl"


def test_metadata_never_leaves_the_loader(tmp_path: Path) -> None:
    data = load_beir(write_set(tmp_path / "set"))
    assert "d1 says yes" not in repr(data)


def test_limit_keeps_the_first_queries_in_file_order(tmp_path: Path) -> None:
    data = load_beir(write_set(tmp_path / "set"), limit=1)
    assert list(data.queries) == ["q1"] and list(data.qrels) == ["q1"]


def test_zero_scores_are_not_relevant_and_headerless_files_work(tmp_path: Path) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("q1\td1\t0\nq1\td2\t1\n\n")
    assert read_qrels(path) == {"q1": {"d2": 1}}


def test_missing_split_names_the_splits_present(tmp_path: Path) -> None:
    root = write_set(tmp_path / "set")
    assert splits(root) == ["test"]
    with pytest.raises(ConfigError, match="splits in .*: test"):
        load_beir(root, split="dev")


def test_not_a_beir_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="corpus.jsonl is missing"):
        load_beir(tmp_path)


def test_malformed_judgment_line_is_named(tmp_path: Path) -> None:
    root = write_set(tmp_path / "set", qrels="query-id\tcorpus-id\tscore\nq1 d1 1\n")
    with pytest.raises(ConfigError, match="test.tsv line 2"):
        load_beir(root)


def test_judged_query_missing_from_queries_is_an_error(tmp_path: Path) -> None:
    root = write_set(tmp_path / "set", qrels="q9\td1\t1\n")
    with pytest.raises(ConfigError, match="'q9'"):
        load_beir(root)
