"""Reading ``qa.jsonl`` without ever showing the system the gold, and aggregating a run's
per-question scores."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from lore.errors import ConfigError
from lore.eval.answer_scores import exact_match
from lore.eval.qa import QAItem, QARecord, aggregate, by_strategy, load_qa

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
"""``shared/data`` next to the repository root, where the benchmark sets live."""

# --- aggregation ---------------------------------------------------------------------------


def test_aggregate_reports_percent_scores_and_medians() -> None:
    records = [
        QARecord("q1", 1.0, 1.0, True, 1.0, False, 0.2, 1.0, 1.0, model_calls=1,
                 model_tokens=300, all_gold_read=True, all_gold_retrieved=True),
        QARecord("q2", 0.0, 0.5, False, None, True, None, 3.0, strategy="iterative",
                 model_calls=3, model_tokens=900, all_gold_read=False,
                 all_gold_retrieved=True),
        QARecord("q3", 0.0, 0.25, True, 0.5, False, 0.4, 2.0, 0.0, model_calls=2,
                 model_tokens=600),
    ]
    scores = aggregate(records).as_dict()
    assert scores == pytest.approx({
        "questions": 3, "exact_match": 100 / 3, "f1": 175 / 3, "answer_in_context": 2 / 3,
        "citation_precision": 0.75, "not_found_rate": 1 / 3,
        "median_first_token_s": 0.3, "median_total_s": 2.0, "shown_citation_precision": 0.5,
        "mean_model_calls": 2.0, "mean_model_tokens": 600.0, "all_gold_read": 0.5,
        "all_gold_retrieved": 1.0})
    routes = by_strategy(records)
    assert list(routes) == ["single", "iterative"]
    assert routes["iterative"].questions == 1 and routes["single"].mean_model_calls == 1.5
    json.dumps(scores)


def test_aggregate_of_nothing_is_null_not_zero() -> None:
    scores = aggregate([]).as_dict()
    assert scores["questions"] == 0
    assert all(value is None for key, value in scores.items() if key != "questions")


# --- loading -------------------------------------------------------------------------------


def record(n: int) -> dict[str, object]:
    return {"_id": f"q{n}", "question": f"question {n}?", "answers": [f"answer {n}"],
            "answer_starts": [n], "doc_id": f"d{n}"}


def write_qa(folder: Path, lines: list[str], end: str = "\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qa.jsonl").write_bytes(end.join(lines).encode() + end.encode())
    return folder


def test_reads_crlf_and_blank_lines(tmp_path: Path) -> None:
    hotpot = {"_id": "h1", "question": "Who?", "answers": ["Shirley Temple"],
              "supporting_facts": [["Shirley Temple", 0]], "gold_doc_ids": ["a", "b"]}
    lines = [json.dumps(record(1)), "", json.dumps(hotpot), "   "]
    qa = load_qa(write_qa(tmp_path / "set", lines, end="\r\n"))
    assert qa.name == "set" and qa.language == "en"
    assert qa.items == [QAItem("q1", "question 1?"), QAItem("h1", "Who?")]
    assert qa.gold == {"q1": ["answer 1"], "h1": ["Shirley Temple"]}
    assert qa.gold_docs == {"q1": ["d1"], "h1": ["a", "b"]}


def test_items_carry_only_the_id_and_question(tmp_path: Path) -> None:
    qa = load_qa(write_qa(tmp_path / "set", [json.dumps(record(1))]))
    assert [f.name for f in dataclasses.fields(QAItem)] == ["id", "question"]
    assert "answer 1" not in repr(qa.items)


def test_accepts_the_file_itself_and_keeps_line_separators_inside_strings(
        tmp_path: Path) -> None:
    line = json.dumps({"_id": "q", "question": "a\u2028b\x85c", "answers": ["x"]},
                      ensure_ascii=False)
    qa = load_qa(write_qa(tmp_path / "set", [line]) / "qa.jsonl")
    assert qa.items == [QAItem("q", "a\u2028b\x85c")]


def test_chinese_set_is_scored_by_the_chinese_rule(tmp_path: Path) -> None:
    lines = [json.dumps({"_id": "c1", "question": "《战国无双3》是由哪两个公司合作开发的？",
                         "answers": ["光荣和ω-force"]}, ensure_ascii=False)]
    assert load_qa(write_qa(tmp_path / "cmrc", lines)).language == "zh"


def test_limit_keeps_the_first_questions(tmp_path: Path) -> None:
    qa = load_qa(write_qa(tmp_path / "set", [json.dumps(record(n)) for n in range(10)]),
                 limit=3)
    assert [item.id for item in qa.items] == ["q0", "q1", "q2"]
    assert set(qa.gold) == set(qa.gold_docs) == {"q0", "q1", "q2"}


def test_seed_samples_reproducibly(tmp_path: Path) -> None:
    folder = write_qa(tmp_path / "set", [json.dumps(record(n)) for n in range(20)])
    first, again = load_qa(folder, limit=5, seed=7), load_qa(folder, limit=5, seed=7)
    everything = load_qa(folder).items
    assert first.items == again.items == random.Random(7).sample(everything, 5)
    assert load_qa(folder, limit=5, seed=8).items != first.items
    assert set(first.gold) == {item.id for item in first.items}
    assert len(load_qa(folder, limit=50, seed=7).items) == 20  # a limit past the end: all


@pytest.mark.parametrize(("bad", "says"), [
    ('{"_id": "q9", "question": "why?"', "not JSON"),
    ('{"_id": "q9", "question": "why?"}', "missing answers"),
    ('{"question": "why?", "answers": ["x"]}', "missing _id"),
    ('{"_id": "q9", "answers": ["x"]}', "missing question"),
    ('{"_id": "q9", "question": "why?", "answers": "x"}', "list of strings"),
    ('{"_id": "q9", "question": "", "answers": ["x"]}', "non-empty string"),
    ('["q9", "why?"]', "found list"),
    (json.dumps(record(1)), "duplicate _id 'q1'"),
])
def test_bad_line_names_the_file_and_line(tmp_path: Path, bad: str, says: str) -> None:
    folder = write_qa(tmp_path / "set", [json.dumps(record(1)), "", bad], end="\r\n")
    with pytest.raises(ConfigError, match=says) as caught:
        load_qa(folder)
    assert f"{folder / 'qa.jsonl'} line 3" in str(caught.value)


def test_missing_file_and_bad_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="qa.jsonl is missing"):
        load_qa(tmp_path)
    folder = write_qa(tmp_path / "set", [json.dumps(record(1))])
    with pytest.raises(ConfigError, match="limit must be 0 or more"):
        load_qa(folder, limit=-1)


# --- the shared benchmark sets -------------------------------------------------------------

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent")


@needs_data
@pytest.mark.parametrize(("name", "count", "language"), [
    ("squad-v1.1-dev", 10_570, "en"),
    ("cmrc2018-dev", 3_219, "zh"),
    ("hotpotqa-dev-distractor-500", 500, "en"),
])
def test_reads_the_shared_sets(name: str, count: int, language: str) -> None:
    qa = load_qa(DATA / name)
    assert len(qa.items) == len(qa.gold) == len(qa.gold_docs) == count
    assert qa.language == language
    assert all(exact_match(answers[0], answers, qa.language) == 1.0
               for answers in qa.gold.values())


@needs_data
def test_hotpotqa_names_both_gold_paragraphs() -> None:
    qa = load_qa(DATA / "hotpotqa-dev-distractor-500")
    assert all(len(docs) == 2 for docs in qa.gold_docs.values())


def test_a_split_keeps_one_side_of_the_rule_by_article(tmp_path: Path) -> None:
    articles = [f"Article {n}" for n in range(30)]
    (tmp_path / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": f"{a}-{p}", "title": title, "text": "..."}) + "\n"
        for a, title in enumerate(articles) for p in range(2)))
    (tmp_path / "qa.jsonl").write_text("".join(
        json.dumps({"_id": f"q{a}-{p}", "question": f"question {a} {p}?", "answers": ["x"],
                    "doc_id": f"{a}-{p}"}) + "\n"
        for a in range(len(articles)) for p in range(2)))
    test, train = load_qa(tmp_path, split="test"), load_qa(tmp_path, split="train")
    assert test.items and train.items
    assert len(test.items) + len(train.items) == 2 * len(articles)
    article_of = {item.id: item.id.split("-")[0] for item in test.items + train.items}
    assert not {article_of[i.id] for i in test.items} & {article_of[i.id] for i in train.items}
    assert load_qa(tmp_path, limit=3, seed=0, split="test").items[0] in test.items
