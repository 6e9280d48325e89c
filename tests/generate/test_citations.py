"""Citation markers checked against the numbered sources, and sentences attributed."""

from __future__ import annotations

import pytest

from lore.generate.citations import (
    INFER_SUPPORT,
    CheckedAnswer,
    attribute,
    check_citations,
    parse_numbers,
)


def cited(checked: CheckedAnswer) -> list[tuple[int, str, str]]:
    """(number, marker text, sentence text) of each citation."""
    text = checked.text
    return [(c.number, text[c.start:c.end], text[c.sentence[0]:c.sentence[1]])
            for c in checked.citations]


@pytest.mark.parametrize(("answer", "numbers"), [
    ("Paris is the capital of France [1].", [1]),
    ("Paris is the capital of France [1, 3].", [1, 3]),
    ("Paris is the capital of France [1][2].", [1, 2]),
    ("Paris is the capital of France [2-4].", [2, 3, 4]),
    ("Paris is the capital of France [ 2 – 3 ].", [2, 3]),
    ("北京是中国的首都【1】。", [1]),
    ("北京是中国的首都［2］。", [2]),
    ("北京是中国的首都【1，3】。", [1, 3]),
])
def test_marker_shapes(answer: str, numbers: list[int]) -> None:
    checked = check_citations(answer, 4)
    assert [c.number for c in checked.citations] == numbers
    assert checked.invalid == () and checked.uncited == ()
    # Every marker is written back as [n]: its span in the text says exactly that.
    assert [marker for _, marker, _ in cited(checked)] == [f"[{n}]" for n in numbers]


def test_full_width_markers_become_ascii_in_the_text() -> None:
    checked = check_citations("北京是中国的首都【1】。上海是最大的城市［2］。", 2)
    assert checked.text == "北京是中国的首都[1]。上海是最大的城市[2]。"
    assert cited(checked) == [(1, "[1]", "北京是中国的首都[1]。"),
                              (2, "[2]", "上海是最大的城市[2]。")]


def test_a_range_too_wide_to_be_a_citation_does_not_expand() -> None:
    checked = check_citations("Sales were counted [1-100] in the survey.", 3)
    assert checked.invalid == (100,)
    assert [c.number for c in checked.citations] == [1]


def test_a_span_of_years_does_not_expand() -> None:
    checked = check_citations("Prices rose [1990-2020] in the city.", 3)
    assert checked.invalid == (1990, 2020)


def test_invalid_numbers_are_removed_from_the_text_and_reported() -> None:
    checked = check_citations("Paris is the capital [7]. Lyon is a large city [0, 2].", 2)
    assert checked.invalid == (7, 0)
    assert "[7]" not in checked.text and "[0" not in checked.text
    assert cited(checked) == [(2, "[2]", "Lyon is a large city [2].")]
    # The sentence that lost its only marker now cites nothing.
    assert [checked.text[a:b] for a, b in checked.uncited] == ["Paris is the capital."]


def test_invalid_numbers_are_reported_once_in_order_of_appearance() -> None:
    checked = check_citations("One claim here [9]. Another claim [5][9].", 2)
    assert checked.invalid == (9, 5)


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    checked = check_citations("Paris is the capital. [1] Lyon is a large city.[2][3]", 3)
    assert cited(checked) == [
        (1, "[1]", "Paris is the capital. [1]"),
        (2, "[2]", "Lyon is a large city.[2][3]"),
        (3, "[3]", "Lyon is a large city.[2][3]"),
    ]
    assert checked.uncited == ()


def test_decimals_do_not_split_sentences() -> None:
    checked = check_citations("The city has 2.5 million people and 3.7 km of canals [1].", 1)
    sentence = "The city has 2.5 million people and 3.7 km of canals [1]."
    assert cited(checked) == [(1, "[1]", sentence)]
    assert checked.uncited == ()


def test_uncited_sentences_are_reported_and_short_fragments_ignored() -> None:
    text = "Yes. Paris is the capital [1]. It also has many museums!\nNo."
    checked = check_citations(text, 1)
    assert [checked.text[a:b] for a, b in checked.uncited] == ["It also has many museums!"]


@pytest.mark.parametrize("answer", ["1889", "二十年", "Yes."])
def test_an_answer_of_one_short_fragment_is_a_claim(answer: str) -> None:
    # A short answer ("1889") is what the question asked; it needs a source like a sentence.
    checked = check_citations(answer, 1)
    assert [checked.text[a:b] for a, b in checked.uncited] == [answer]


def test_a_short_answer_is_attributed_to_the_source_holding_it() -> None:
    checked = attribute(check_citations("1889", 2), SOURCES)
    assert [(c.number, c.inferred) for c in checked.citations] == [(1, True)]


def test_chinese_sentences_are_split_at_chinese_full_stops() -> None:
    first = "北京是中国的首都和最大的城市之一。"
    checked = check_citations(first + "上海是中国最大的经济中心城市【1】。", 1)
    assert [checked.text[a:b] for a, b in checked.uncited] == [first]


def test_no_sources_makes_every_marker_invalid() -> None:
    checked = check_citations("Paris is the capital of France [1].", 0)
    assert checked.citations == () and checked.invalid == (1,)


@pytest.mark.parametrize(("inside", "numbers"), [
    ("1", [1]),
    ("1, 3-5", [1, 3, 4, 5]),
    ("1，2、3", [1, 2, 3]),
    ("2 – 4", [2, 3, 4]),
    ("3; 1", [3, 1]),
    ("2, 2, 1-2", [2, 1]),  # each number once, in order of first mention
    ("5-3", [5, 3]),  # a backwards range gives its ends
    ("1-100", [1, 100]),  # too wide to be a citation: its ends
])
def test_parse_numbers(inside: str, numbers: list[int]) -> None:
    assert parse_numbers(inside) == numbers


SOURCES = [
    "The Eiffel Tower in Paris was built in 1889 for the World's Fair.",
    "Paris is the capital and largest city of France.",
]


def test_attribute_measures_the_support_of_each_citation() -> None:
    checked = attribute(check_citations(
        "Paris is the capital of France [2]. Bananas grow in tropical places [2].", 2),
        SOURCES)
    first, second = checked.citations
    assert first.support == pytest.approx(1.0)  # paris, capital, franc: all in source 2
    assert second.support == 0.0  # no source mentions bananas: the citation stays
    assert (second.number, second.written) == (2, None)
    assert not first.inferred and not second.inferred


def test_a_citation_of_the_wrong_source_moves_to_the_one_holding_its_sentence() -> None:
    text = "The Eiffel Tower was built in 1889 [2]."
    checked = attribute(check_citations(text, 2), SOURCES)
    (citation,) = checked.citations
    assert (citation.number, citation.written) == (1, 2)
    assert citation.support >= INFER_SUPPORT and not citation.inferred
    assert checked.text[citation.start:citation.end] == "[2]"  # the text is as streamed


def test_a_sentence_citing_two_wrong_sources_moves_only_one() -> None:
    checked = attribute(check_citations("The Eiffel Tower was built in 1889 [2][3].", 3),
                        [*SOURCES, "Bananas grow in tropical places."])
    assert [(c.number, c.written) for c in checked.citations] == [(1, 2), (3, None)]


def test_an_uncited_supported_sentence_gets_an_inferred_citation() -> None:
    text = "The Eiffel Tower in Paris was built in 1889. Paris is the capital [2]."
    checked = attribute(check_citations(text, 2), SOURCES)
    inferred = [c for c in checked.citations if c.inferred]
    assert len(inferred) == 1
    citation = inferred[0]
    sentence_end = text.index("1889.") + len("1889.")
    assert citation.number == 1
    assert citation.start == citation.end == sentence_end  # no marker in the text
    assert citation.sentence == (0, sentence_end)
    assert citation.support >= INFER_SUPPORT
    assert checked.text == text  # nothing is inserted into the answer
    assert checked.uncited == ()
    # Citations stay in the order of their sentences.
    assert [c.number for c in checked.citations] == [1, 2]


def test_an_unsupported_sentence_stays_uncited() -> None:
    text = "Bananas are yellow fruit grown in tropical places. Paris is the capital [2]."
    checked = attribute(check_citations(text, 2), SOURCES)
    assert all(not c.inferred for c in checked.citations)
    assert [checked.text[a:b] for a, b in checked.uncited] == [
        "Bananas are yellow fruit grown in tropical places."]


def test_attribute_without_sources_leaves_sentences_uncited() -> None:
    checked = attribute(check_citations("Paris is the capital of France.", 0), [])
    assert checked.citations == () and len(checked.uncited) == 1
