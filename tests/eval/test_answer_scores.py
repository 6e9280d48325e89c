"""Answer scores against hand computations of the SQuAD v1.1 and CMRC 2018 official rules:
exact match, token F1, and whether a gold answer occurs in the context."""

from __future__ import annotations

import pytest

from lore.eval.answer_scores import (
    answer_in_context,
    chinese_tokens,
    exact_match,
    f1,
    language_of,
    normalize_answer,
)

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
