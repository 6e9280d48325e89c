"""``global`` and ``local`` (LazyGraphRAG) over a real knowledge base of two topics, with the
scripted generator writing the model's part and the word-overlap fake judging relevance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import lore
from lore.api import KnowledgeBase
from lore.generate.prompt import NOTES
from lore.testing.fakes import ScriptedGenerator
from lore.types import Answer, Step

THEMES = "What are the main themes of these documents?"


@pytest.fixture
def kb(tmp_path: Path, corpus: Path) -> Iterator[KnowledgeBase]:
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
        yield base


def ask(kb: KnowledgeBase, question: str, strategy: str, **planning: object
        ) -> tuple[list[str | Step | Answer], Answer]:
    settings = replace(kb.config.query, relevance_test="overlap", **planning)  # type: ignore[arg-type]
    events = list(kb.ask_steps(question, model="scripted", strategy=strategy,  # type: ignore[arg-type]
                               planning=settings))
    final = events[-1]
    assert isinstance(final, Answer)
    return events, final


def topics(answer: Answer) -> set[str]:
    return {Path(source.passage.hit.path).name.split("-")[0] for source in answer.sources}


def script_model(scripted: ScriptedGenerator) -> None:
    """The answer, then (the latest matching script wins) the rewrites and the claims."""
    scripted.script("Glaciers [1]. A cache sweeper [2].")
    scripted.script("glacier facts\nsweeper facts", when="different search queries")
    scripted.script("It tells of glaciers.\nIt tells of a sweeper [2]", when="one short sentence")


def test_a_question_about_the_whole_collection_reads_every_topic(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    events, answer = ask(kb, THEMES, "global")
    kinds = [step.kind for step in answer.steps]
    assert kinds[:3] == ["rewrite", "relevance", "claims"]
    assert "whole collection" in answer.steps[1].text
    assert topics(answer) == {"alps", "oslo"}
    assert answer.text == "Glaciers [1]. A cache sweeper [2]."
    assert "".join(e for e in events if isinstance(e, str)) == answer.text


def test_each_claim_cites_its_source_by_its_number_in_the_answer(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    ask(kb, THEMES, "global", claim_calls=1)
    answer_prompt = scripted.asked[-1][-1].content
    notes = answer_prompt.split(NOTES["en"])[1]
    # The first line cited nothing: it is given the number of the source at its place.
    assert "It tells of glaciers. [1]" in notes and "It tells of a sweeper [2]" in notes


def test_without_claim_calls_the_answer_reads_the_chunks_alone(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    _, answer = ask(kb, THEMES, "global", claim_calls=0)
    assert "claims" not in [step.kind for step in answer.steps]
    assert NOTES["en"] not in scripted.asked[-1][-1].content


def test_local_reads_only_what_the_relevance_test_passes(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    _, answer = ask(kb, "Aletsch Glacier?", "local")
    assert answer.sources and topics(answer) == {"alps"}
    assert all("aletsch" in s.passage.text.lower() for s in answer.sources)
    assert "tested by overlap" in answer.steps[1].text


def test_a_budget_of_zero_tests_nothing_and_answers_not_found(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    _, answer = ask(kb, THEMES, "global", relevance_budget=0)
    assert answer.steps[1].text.startswith("0 relevance tests")
    assert not answer.found and not answer.sources


def test_a_question_nothing_is_relevant_to_finds_nothing_locally(
        kb: KnowledgeBase, scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    _, answer = ask(kb, "Sourdough starter hydration?", "local")
    assert not answer.found and not answer.sources


def test_a_collection_without_communities_is_answered_from_one_search(
        tmp_path: Path, scripted: ScriptedGenerator) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.md").write_text("all of it is here and there.\n")
    scripted.script("Here [1].")
    with lore.open(tmp_path / "plain-kb", model="hash") as base:
        base.index([folder])
        _, answer = ask(base, THEMES, "global")
    assert [step.kind for step in answer.steps][:2] == ["communities", "retrieve"]


def test_the_cli_takes_the_budget(tmp_path: Path, corpus: Path,
                                  scripted: ScriptedGenerator) -> None:
    from click.testing import CliRunner

    from lore.cli import main

    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
    script_model(scripted)
    done = CliRunner().invoke(main, ["ask", THEMES, "--kb", str(tmp_path / "kb"),
                                     "--model", "scripted", "--strategy", "global",
                                     "--budget", "1", "--json"],
                              env={"LORE_RELEVANCE_TEST": "overlap"})
    assert done.exit_code == 0, done.output
    assert '"1 relevance tests' in done.output


@pytest.mark.parametrize("strategy", ["global", "local"])
def test_an_empty_knowledge_base_is_answered_without_a_crash(
        tmp_path: Path, scripted: ScriptedGenerator, strategy: str) -> None:
    scripted.script("Nothing.")
    with lore.open(tmp_path / "empty", model="hash") as base:
        _, answer = ask(base, THEMES, strategy)
    assert answer.steps[0].kind == "communities" and not answer.sources


def test_a_one_document_collection_is_read_whole(tmp_path: Path, corpus: Path,
                                                 scripted: ScriptedGenerator) -> None:
    script_model(scripted)
    only = tmp_path / "one"
    only.mkdir()
    (only / "alps.md").write_text("# Alps\n\n" + " ".join(
        path.read_text().split("\n", 2)[-1] for path in sorted(corpus.glob("alps-*.md"))))
    with lore.open(tmp_path / "one-kb", model="hash") as base:
        base.index([only])
        _, answer = ask(base, THEMES, "global")
    assert {Path(s.passage.hit.path).name for s in answer.sources} <= {"alps.md"}
