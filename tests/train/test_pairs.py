from __future__ import annotations

import json
from pathlib import Path

import pytest

from lore.errors import ConfigError
from lore.train.pairs import MIN_PAIRS, Pair, load_pairs, pairs_from_judgments, with_negatives


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def records(count: int) -> list[str]:
    return [json.dumps({"query": f"question {i}", "positive": f"answer {i}"})
            for i in range(count)]


def test_pairs_are_read_with_their_negatives_and_where_they_came_from(tmp_path: Path) -> None:
    lines = records(MIN_PAIRS - 1) + [json.dumps(
        {"query": "什么是检索？", "positive": "检索是查找。", "negatives": ["天气很好。"]})]
    pairs = load_pairs(write_lines(tmp_path / "pairs.jsonl", ["", *lines]))
    assert len(pairs.pairs) == MIN_PAIRS
    last = pairs.pairs[-1]
    assert (last.query, last.negatives) == ("什么是检索？", ("天气很好。",))
    assert last.source == f"{tmp_path / 'pairs.jsonl'}:{MIN_PAIRS + 1}"


def test_the_digest_follows_the_pairs(tmp_path: Path) -> None:
    first = load_pairs(write_lines(tmp_path / "a.jsonl", records(MIN_PAIRS)))
    same = load_pairs(write_lines(tmp_path / "b.jsonl", records(MIN_PAIRS)))
    other = load_pairs(write_lines(tmp_path / "c.jsonl", records(MIN_PAIRS + 1)))
    assert first.digest == same.digest != other.digest


@pytest.mark.parametrize(("line", "says"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "a JSON list"),
    ('{"query": "q"}', "'positive' must be non-empty text"),
    ('{"query": "  ", "positive": "p"}', "'query' must be non-empty text"),
    ('{"query": "q", "positive": "p", "negatives": "n"}', "'negatives' must be a list"),
])
def test_a_bad_line_names_the_file_and_line(tmp_path: Path, line: str, says: str) -> None:
    path = write_lines(tmp_path / "pairs.jsonl", [*records(MIN_PAIRS), line])
    with pytest.raises(ConfigError, match=says) as error:
        load_pairs(path)
    assert f"pairs.jsonl:{MIN_PAIRS + 1}:" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_file_or_too_few_pairs_is_refused_plainly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no pairs file"):
        load_pairs(tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match=f"gives 2 training pairs; at least {MIN_PAIRS}"):
        load_pairs(write_lines(tmp_path / "few.jsonl", records(2)))
    (tmp_path / "latin1.jsonl").write_bytes('{"query": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_pairs(tmp_path / "latin1.jsonl")


def test_judgments_become_one_pair_per_relevant_document() -> None:
    queries = {f"q{i}": f"question {i}" for i in range(MIN_PAIRS)}
    documents = {f"d{i}": f"document {i}" for i in range(MIN_PAIRS)}
    judgments = {f"q{i}": [f"d{i}"] for i in range(MIN_PAIRS)}
    judgments["q0"] = ["d0", "d1", "gone"]
    pairs = pairs_from_judgments(queries, judgments, documents, "set qrels/train.tsv")
    assert [p.positive for p in pairs.pairs if p.query == "question 0"] == [
        "document 0", "document 1"]
    assert pairs.skipped == ("query q0 / document gone: the document is missing",)


def test_added_negatives_leave_out_duplicates_and_the_positive() -> None:
    pair = Pair("q", "p", ("n1",))
    assert with_negatives(pair, ["n1", "p", "n2"]).negatives == ("n1", "n2")
