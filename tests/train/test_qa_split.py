"""The split of question-answer sets that training and evaluation share."""

from __future__ import annotations

from lore.rag_training import held_out_rows
from lore.train.qa_split import (
    QAExample,
    in_test,
    overlap,
    question_key,
    split_examples,
    split_key,
)


def test_the_rule_is_fixed_and_sends_about_a_fifth_to_test() -> None:
    keys = [f"title:article {n}" for n in range(5000)]
    share = sum(map(in_test, keys)) / len(keys)
    assert 0.18 < share < 0.22
    assert [in_test(key) for key in keys[:50]] == [in_test(key) for key in keys[:50]]


def article_examples(count: int) -> tuple[list[QAExample], dict[str, str]]:
    """``count`` articles of three paragraphs, a question on each paragraph."""
    titles = {f"{a}-{p}": f"Article {a}" for a in range(count) for p in range(3)}
    examples = [QAExample(f"q{doc}", f"question on {doc}?", ("x",), (doc,)) for doc in titles]
    return examples, titles


def test_every_question_of_an_article_falls_on_one_side() -> None:
    examples, titles = article_examples(40)
    split = split_examples(examples, titles)
    sides: dict[str, set[str]] = {}
    for side, chosen in (("train", split.train), ("test", split.test)):
        for example in chosen:
            sides.setdefault(titles[example.documents[0]], set()).add(side)
    assert all(len(found) == 1 for found in sides.values())
    assert split.test and split.train and not split.left_out


def test_test_documents_are_every_paragraph_of_a_test_article() -> None:
    examples, titles = article_examples(40)
    examples = [e for e in examples if not e.documents[0].endswith("-2")]  # unasked paragraphs
    split = split_examples(examples, titles)
    test_titles = {titles[e.documents[0]] for e in split.test}
    assert split.test_documents == {doc for doc, title in titles.items()
                                    if title in test_titles}


def test_multi_document_questions_split_by_question_and_sharers_are_left_out() -> None:
    examples = [QAExample(f"q{n}", f"bridge question {n}?", ("y",), (f"p{n}", f"p{n + 1}"))
                for n in range(60)]
    split = split_examples(examples, {})
    assert all(split_key(e, {}) == f"question:{e.id}" for e in examples)
    held = {doc for e in split.test for doc in e.documents}
    assert split.test_documents == held
    assert all(not held & set(e.documents) for e in split.train)
    assert split.left_out and all(held & set(e.documents) for e in split.left_out)


def test_overlap_ignores_case_and_spacing_only() -> None:
    trained = {question_key("Who wrote Hamlet?")}
    found = overlap(trained, ["who  wrote HAMLET?", "Who wrote Macbeth?"])
    assert found == ["who  wrote HAMLET?"]


def test_held_out_questions_are_whole_articles_and_never_all() -> None:
    examples, titles = article_examples(20)
    split = split_examples(examples, titles)
    rows = held_out_rows(split.train, 0.1, seed=0)
    held = {split.train[row].group for row in rows}
    kept = {e.group for row, e in enumerate(split.train) if row not in rows}
    assert rows and held and not held & kept
    assert 0.1 * len(split.train) <= len(rows) < 0.1 * len(split.train) + 3
    one = [QAExample(f"q{n}", "?", ("x",), group="only") for n in range(5)]
    assert held_out_rows(one, 0.5, seed=0) == set()
