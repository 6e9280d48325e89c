"""The SQL route's test set: every reference statement gives the answer the set states, and
an answer written from the reference statement scores as right (so the benchmark's scoring
can only fail the model, not the set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lore
from lore.api import KnowledgeBase
from lore.eval.metadata_route import correct, truth
from lore.query.sql_check import missing_conditions
from lore.testing.fakes import ScriptedGenerator
from lore.testing.metadata_fixture import (
    HELD_OUT,
    QUESTIONS,
    MetadataQuestion,
    build_collection,
)
from lore.types import Answer

EVERY = QUESTIONS + HELD_OUT


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("metadata-set")
    with lore.open(root / "kb", model="hash") as kb:
        report = kb.index([build_collection(root / "collection")])
        assert not report.skipped
    return root / "kb"


@pytest.fixture
def kb(kb_dir: Path) -> Iterator[KnowledgeBase]:
    with lore.open(kb_dir, model="hash") as base:
        yield base


def test_the_set_is_large_enough_and_mixes_kinds() -> None:
    assert len(QUESTIONS) >= 40 and len(HELD_OUT) >= 20
    assert not {q.question for q in QUESTIONS} & {q.question for q in HELD_OUT}
    assert sum(bool(q.content) for q in QUESTIONS) >= 5
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in q.question) for q in QUESTIONS) >= 5


@pytest.mark.parametrize("question", EVERY, ids=lambda q: q.question)
def test_each_reference_statement_gives_the_stated_answer(kb: KnowledgeBase,
                                                          question: MetadataQuestion) -> None:
    rows = kb._store.metadata(question.sql, 50, 2.0)
    right = truth(question, rows)
    if question.expect is not None:
        expected = question.expect
        assert right == (expected if isinstance(expected, frozenset) else str(expected))
    assert right not in ("", frozenset())


@pytest.mark.parametrize("question", EVERY, ids=lambda q: q.question)
def test_the_reference_statement_through_the_sql_route_scores_right(
        kb: KnowledgeBase, scripted: ScriptedGenerator, question: MetadataQuestion) -> None:
    right = truth(question, kb._store.metadata(question.sql, 50, 2.0))
    scripted.script("Found [1].")
    scripted.script(f"SQL: {question.sql}\nSEARCH: {question.content or 'none'}",
                    when="SQLite SELECT")
    answer = kb.ask(question.question, model="scripted", strategy="sql")
    assert correct(question, answer, right), [s.text for s in answer.steps]


@pytest.mark.parametrize("question", EVERY, ids=lambda q: q.question)
def test_no_reference_statement_is_sent_back_for_a_missing_condition(
        kb: KnowledgeBase, question: MetadataQuestion) -> None:
    held = kb._store.metadata("SELECT DISTINCT format FROM documents", 50, 2.0)
    formats = [str(row[0]) for row in held.rows]
    assert missing_conditions(question.question, question.sql, formats) == []


def test_a_wrong_answer_scores_wrong(kb: KnowledgeBase) -> None:
    question = QUESTIONS[0]
    right = truth(question, kb._store.metadata(question.sql, 50, 2.0))
    assert not correct(question, Answer(question.question, "4"), right)
    names = next(q for q in QUESTIONS if isinstance(q.expect, frozenset) and len(q.expect) > 1)
    assert isinstance(names.expect, frozenset)
    one = sorted(names.expect)[0]
    assert not correct(names, Answer(names.question, f"[1] name: {one}"), names.expect)


@pytest.mark.parametrize("question", [q for q in EVERY if q.content], ids=lambda q: q.question)
def test_a_mixed_statement_that_selects_names_still_searches_among_its_files(
        kb: KnowledgeBase, scripted: ScriptedGenerator, question: MetadataQuestion) -> None:
    right = truth(question, kb._store.metadata(question.sql, 50, 2.0))
    by_name = question.sql.replace("SELECT path", "SELECT name", 1)
    assert by_name != question.sql
    scripted.script("Found [1].")
    scripted.script(f"SQL: {by_name}\nSEARCH: {question.content}", when="SQLite SELECT")
    answer = kb.ask(question.question, model="scripted", strategy="sql")
    assert correct(question, answer, right), [s.text for s in answer.steps]
    assert [s.kind for s in answer.steps].count("sql") == 2
