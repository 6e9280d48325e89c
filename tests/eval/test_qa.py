"""QA scoring against hand computations of the SQuAD v1.1 and CMRC 2018 official rules, and
reading ``qa.jsonl`` without ever showing the system the gold."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from lore.errors import ConfigError
from lore.eval.qa import (
    QAItem,
    QARecord,
    aggregate,
    answer_in_context,
    chinese_tokens,
    exact_match,
    f1,
    language_of,
    load_qa,
    normalize_answer,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
"""``shared/data`` next to the repository root, where the benchmark sets live."""

# --- SQuAD v1.1 rule -----------------------------------------------------------------------


def test_articles_and_punctuation_do_not_count() -> None:
    assert exact_match("The Denver Broncos", ["Denver Broncos"]) == 1.0
    assert f1("The Denver Broncos", ["Denver Broncos"]) == 1.0
    assert exact_match("Levi's Stadium.", "levis stadium") == 1.0


def test_normalize_answer_follows_the_official_script() -> None:
    assert normalize_answer("  The Anthem, a  song! ") == "anthem song"
    assert normalize_answer("another theme") == "another theme"  # articles only as words
    assert normalize_answer("“Denver”") == "“denver”"  # only ASCII punctuation goes


def test_f1_is_the_bag_of_words_overlap() -> None:
    # prediction {broncos, of, denver}, gold {denver, broncos}: P = 2/3, R = 1 -> 0.8
    assert f1("Broncos of Denver", ["Denver Broncos"]) == pytest.approx(0.8)
    # repeated words count once per match: P = 1/3, R = 1 -> 0.5
    assert f1("the cat cat cat", "cat") == pytest.approx(0.5)


def test_scores_take_the_best_gold_answer() -> None:
    golds = ["Santa Clara, California", "Levi's Stadium"]
    # against the first: P = 2/2, R = 2/3 -> 0.8; against the second 0
    assert f1("Santa Clara", golds) == pytest.approx(0.8)
    assert exact_match("Santa Clara", golds) == 0.0
    assert exact_match("levi's stadium", golds) == 1.0


def test_empty_prediction_or_no_gold_scores_zero() -> None:
    assert f1("", ["Denver Broncos"]) == 0.0
    assert exact_match("", ["Denver Broncos"]) == 0.0
    assert f1("the", ["a"]) == 0.0  # both normalise to nothing: the official script gives 0
    assert f1("Denver", []) == 0.0 and exact_match("Denver", []) == 0.0


# --- CMRC 2018 rule ------------------------------------------------------------------------

GOLD = "光荣和ω-force"  # tokens 光 荣 和 ωforce


def test_language_of_looks_for_any_ideograph() -> None:
    assert language_of(GOLD) == "zh"
    assert language_of("Denver Broncos") == "en"
    assert language_of("㑩") == "zh"  # CJK Extension A, found in CMRC dev answers


def test_chinese_tokens_split_ideographs_and_keep_words_whole() -> None:
    assert chinese_tokens(GOLD) == ["光", "荣", "和", "ωforce"]  # '-' vanishes in place
    assert chinese_tokens("「使用Python 3.8开发」。") == ["使", "用", "python", "3.8", "开", "发"]
    assert chinese_tokens("第51。2008年") == ["第", "51", "2008", "年"]  # 。 breaks words
    assert chinese_tokens("NT$25,000 (WJ)") == ["nt", "25,000", "wj"]


def test_chinese_exact_match_ignores_punctuation() -> None:
    assert exact_match("「光荣和ω-force」。", [GOLD]) == 1.0
    assert exact_match("光荣", [GOLD]) == 0.0


def test_chinese_f1_counts_the_longest_common_run() -> None:
    # 光 荣 against 4 gold tokens: run 2, P = 1, R = 1/2 -> 2/3
    assert f1("光荣", [GOLD]) == pytest.approx(2 / 3)
    # 9 tokens 由 光 荣 和 ωforce 合 作 开 发 hold the whole gold: P = 4/9, R = 1 -> 8/13
    assert f1("由光荣和ω-force合作开发", [GOLD]) == pytest.approx(8 / 13)
    # every token matches, but the longest common run is 光 荣: P = R = 1/2 -> 0.5
    # (a bag-of-words overlap would give 1.0)
    assert f1("ω-force和光荣", [GOLD]) == pytest.approx(0.5)


def test_mixed_chinese_and_english() -> None:
    # prediction 用 python 3 开 发 (5), gold 使 用 python 3.8 开 发 (6): longest run 2
    # P = 2/5, R = 2/6 -> 4/11
    assert f1("用Python 3开发", ["使用Python 3.8开发"]) == pytest.approx(4 / 11)
    assert exact_match("使用 python 3.8 开发", ["使用Python 3.8开发"]) == 1.0


def test_one_ideograph_in_either_side_picks_the_chinese_rule() -> None:
    # 2008 年 against 2008: P = 1/2, R = 1 -> 2/3
    assert f1("2008年", ["2008"]) == pytest.approx(2 / 3)


def test_language_can_be_forced_for_latin_answers_in_a_chinese_set() -> None:
    # The English rule keeps the full-width brackets; the CMRC rule drops them.
    assert exact_match("Introduction", ["《Introduction》"]) == 0.0
    assert exact_match("Introduction", ["《Introduction》"], language="zh") == 1.0
    assert exact_match("the Introduction", ["Introduction"], language="zh") == 0.0


# --- answer in context ---------------------------------------------------------------------


def test_answer_in_context_matches_whole_normalised_tokens() -> None:
    context = "Super Bowl 50 was won by the Denver Broncos, founded in 1960."
    assert answer_in_context(context, ["The Denver Broncos!"])
    assert answer_in_context(context, ["Carolina", "1960"])
    assert not answer_in_context(context, ["196"])
    assert not answer_in_context(context, ["", "!!"])  # nothing left to look for


def test_answer_in_context_in_chinese() -> None:
    context = "《战国无双3》是由光荣和ω-force开发的战国无双系列的正统第三续作。"
    assert answer_in_context(context, [GOLD])
    assert answer_in_context(context, ["「战国无双3」"])
    assert not answer_in_context(context, ["光荣和任天堂"])


# --- aggregation ---------------------------------------------------------------------------


def test_aggregate_reports_percent_scores_and_medians() -> None:
    records = [
        QARecord("q1", 1.0, 1.0, True, 1.0, False, 0.2, 1.0, 1.0),
        QARecord("q2", 0.0, 0.5, False, None, True, None, 3.0),
        QARecord("q3", 0.0, 0.25, True, 0.5, False, 0.4, 2.0, 0.0),
    ]
    scores = aggregate(records).as_dict()
    assert scores == pytest.approx({
        "questions": 3, "exact_match": 100 / 3, "f1": 175 / 3, "answer_in_context": 2 / 3,
        "citation_precision": 0.75, "not_found_rate": 1 / 3,
        "median_first_token_s": 0.3, "median_total_s": 2.0, "shown_citation_precision": 0.5})
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
                         "answers": [GOLD]}, ensure_ascii=False)]
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
