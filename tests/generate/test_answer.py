"""Answering: the relevance gate, the sources a model reads, the three answer modes and the
citation check, over ``ScriptedGenerator`` (exact and fast); then end to end through
``KnowledgeBase.ask`` / ``ask_stream`` over a tiny knowledge base (MiniLM from its wheel) with
SmolLM2-135M writing the answers (``slow``). ``lore ask`` is tested in tests/test_cli.py."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import lore
from lore.config import GenerateConfig
from lore.errors import ConfigError
from lore.generate.answer import (
    DEFAULT_QUESTION_LIKELIHOOD,
    NOT_FOUND,
    Answerer,
    distinct,
    relevance,
    within_mass,
)
from lore.generate.citations import check_citations
from lore.generate.openai import OpenAIGenerator
from lore.generate.protocol import Generator
from lore.generate.registry import create_generator
from lore.testing.fakes import ScriptedGenerator
from lore.testing.models import needs_smollm2
from lore.testing.sources import text_source
from lore.types import Answer, AnswerMode, Chunk, Hit, Passage

QUESTION = "What is the capital of France?"
SETTINGS = GenerateConfig(model="smollm2", context_tokens=2048, answer_tokens=48, k=3)
"""Short answers keep the slow tests short; the answer path is the same at any length."""
SCRIPTED = GenerateConfig(model="scripted", source_mass=None, question_likelihood=0.0)
"""Every source read, weighed by retrieval alone; the ``hash`` embedder has no relevance
floor."""

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
PARIS = text_source(1, "Paris is the capital and largest city of France.", "Paris", 1.0).passage
TEA = text_source(2, "Green tea is made from the leaves of the tea plant.", "Tea", 0.5).passage


@pytest.fixture
def generator() -> ScriptedGenerator:
    return ScriptedGenerator()


def split(events: list[str | Answer]) -> tuple[list[str], Answer]:
    """The text pieces and the one Answer, which must come last."""
    assert events and isinstance(events[-1], Answer)
    pieces = events[:-1]
    assert all(isinstance(piece, str) and piece for piece in pieces)
    return [piece for piece in pieces if isinstance(piece, str)], events[-1]


def answered(answerer: Answerer, question: str, passages: list[Passage]
             ) -> tuple[list[str], Answer]:
    return split(list(answerer.stream(question, passages, time.perf_counter())))


# ---- the relevance gate --------------------------------------------------------------------


def test_below_the_relevance_floor_or_without_passages_the_model_is_not_asked(
        generator: ScriptedGenerator) -> None:
    answerer = Answerer(generator, replace(SCRIPTED, min_relevance=0.5))
    far = passage("Retries back off exponentially.", dense=0.2)
    for passages in ([far], []):
        pieces, answer = answered(answerer, QUESTION, passages)
        assert pieces == [NOT_FOUND["en"]] and answer.text == NOT_FOUND["en"]
        assert not answer.found and answer.prompt == "" and answer.sources == ()
        assert answer.timings.prompt_tokens == 0 and answer.timings.answer_tokens == 0
        assert answer.model == "scripted" and answer.question == QUESTION
        _, chinese = answered(answerer, "法国的首都是哪里？", passages)
        assert chinese.text == NOT_FOUND["zh"] and not chinese.found
    assert not Answerer(generator, SCRIPTED).relevant(QUESTION, [])  # with no floor
    gated = Answerer(generator, SCRIPTED, relevance_floor=0.5)  # the embedder's floor
    near = passage("Retries back off exponentially.", dense=0.7)
    assert not gated.relevant(QUESTION, [far]) and gated.relevant(QUESTION, [near])
    assert generator.asked == [] and generator.scored == []


class WordCounter:
    """Just enough of a Generator for the relevance gate, which never generates; not a
    TokenScorer, as a server is not."""

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
    answerer = Answerer(WordCounter(), GenerateConfig(min_relevance=0.5))
    ttl = passage("The ttl is 300 seconds by default.", dense=0.2)
    assert answerer.relevant("what is the ttl?", [ttl])  # BM25 sees what MiniLM cannot
    assert not answerer.relevant("what is the retry budget?", [ttl])
    assert answerer.relevant("what is the retry budget?", [passage("unrelated", dense=0.6)])
    assert not answerer.relevant("what is the ttl?", [])


def test_relevance_is_the_best_dense_score_unless_a_passage_holds_every_term() -> None:
    ttl = passage("The ttl is 300 seconds by default.", dense=0.2)
    other = passage("Retries back off exponentially.", dense=0.45)
    assert relevance("what is the retry budget?", [ttl, other]) == 0.45
    assert relevance("what is the ttl?", [other, ttl]) == math.inf
    lexical_only = Passage(replace(ttl.hit, scores={"lexical": 3.0}), ttl.text, 0, 10)
    assert relevance("what is the retry budget?", [lexical_only]) == math.inf  # no floor to use
    assert relevance("what is the ttl?", []) == -math.inf


# ---- the sources a model reads -------------------------------------------------------------


def test_a_passage_within_an_earlier_one_of_its_document_is_dropped() -> None:
    def passage(doc: str, start: int, end: int) -> Passage:
        text = "x" * (end - start)
        chunk = Chunk(doc_id=doc, text=text, start=start, end=end, view=text)
        return Passage(Hit(chunk=chunk, score=1.0, source="hybrid", path=doc), text, start, end)

    parent, same, inner, other_doc, overlapping = (
        passage("a", 0, 100), passage("a", 0, 100), passage("a", 10, 50), passage("b", 0, 100),
        passage("a", 50, 150))
    kept = distinct([parent, same, inner, other_doc, overlapping])
    assert kept == [parent, other_doc, overlapping]


def test_a_widened_passage_too_long_for_a_source_falls_back_to_its_chunk(
        generator: ScriptedGenerator) -> None:
    chunk_text = "Paris is the capital of France."
    chunk = Chunk(doc_id="d", text=chunk_text, start=70, end=101, view=chunk_text)
    widened = "Intro. " * 10 + chunk_text + " More." * 10  # its chunk at 70
    long = Passage(Hit(chunk=chunk, score=1.0, source="hybrid", path="p"), widened, 0, 161)
    fits = replace(SCRIPTED, source_tokens=len(widened))
    cut = replace(SCRIPTED, source_tokens=len(widened) - 1)  # bytes: the fake's tokens
    assert Answerer(generator, fits).sources([long])[0].passage == long
    read = Answerer(generator, cut).sources([long])[0].passage
    assert (read.text, read.start, read.end) == (chunk_text, chunk.start, chunk.end)


def test_sources_past_the_mass_of_the_priors_are_left_out() -> None:
    # priors at temperature 1: softmax(3, 1, 0.5, 0) = 0.79, 0.11, 0.06, 0.04
    passages = [text_source(n, f"passage {n}", score=s).passage
                for n, s in enumerate((3.0, 1.0, 0.5, 0.0), start=1)]
    counts = {mass: len(Answerer(WordCounter(), GenerateConfig(source_mass=mass))
                        .sources(passages))
              for mass in (0.5, 0.78, 0.85, 0.95, None)}
    assert counts == {0.5: 1, 0.78: 1, 0.85: 2, 0.95: 3, None: 4}
    kept = Answerer(WordCounter(), GenerateConfig(source_mass=0.85)).sources(passages)
    assert [s.number for s in kept] == [1, 2]
    assert sum(s.prior for s in kept) == pytest.approx(1.0)  # renormalised over what is read
    assert kept[0].prior > kept[1].prior


@pytest.mark.parametrize(("setting", "message"), [
    *[({"source_mass": mass}, f"generate.source_mass {mass} must be in (0, 1]")
      for mass in (0.0, -0.5, 1.5)],
    ({"weighed_source_mass": 0.0}, "generate.weighed_source_mass 0.0 must be in (0, 1]"),
    ({"question_likelihood": -0.1}, "generate.question_likelihood -0.1 must be 0 (off) or more"),
    ({"likelihood_sources": 0}, "generate.likelihood_sources 0 must be 1 or more"),
])
def test_settings_out_of_range_are_refused(generator: ScriptedGenerator,
                                           setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Answerer(generator, replace(SCRIPTED, **setting))
    assert str(refused.value).startswith(message)


def test_within_mass_counts_the_leading_sources_that_reach_the_mass() -> None:
    priors = np.array([0.5, 0.3, 0.2])
    assert [within_mass(priors, mass) for mass in (0.4, 0.5, 0.8, 0.81, 1.0, None)] == \
        [1, 1, 2, 3, 3, 3]
    assert within_mass(np.full(10, 0.1), 0.8) == 8  # eight tenths add up to 0.7999...
    assert within_mass(np.array([]), 0.9) == 0


def test_the_question_likelihood_reorders_the_sources(generator: ScriptedGenerator) -> None:
    bananas = text_source(1, "Bananas are yellow when they are ripe.", score=1.0).passage
    generator.likelihood(-20.0, when="Bananas")
    generator.likelihood(-5.0, when="Paris")
    answerer = Answerer(generator, replace(SCRIPTED, question_likelihood=0.1,
                                             weighed_source_mass=None))
    plain = answerer.sources([bananas, PARIS])  # no question: retrieval's order and priors
    weighed = answerer.sources([bananas, PARIS], QUESTION)
    assert [s.passage for s in plain] == [bananas, PARIS]
    assert [s.passage for s in weighed] == [PARIS, bananas]
    assert [s.number for s in weighed] == [1, 2]
    logits = np.log([plain[0].prior, plain[1].prior]) + 0.1 * np.array([-20.0, -5.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    assert [s.prior for s in weighed] == pytest.approx([expected[1], expected[0]])
    # scored last to first, each prompt holding its one source, for the question as asked
    assert ["Paris" in messages[-1].content for messages, _ in generator.scored] == \
        [True, False]
    assert {text for _, text in generator.scored} == {QUESTION}
    generator.scored.clear()  # nothing is weighed without a question or a second source
    assert [s.prior for s in answerer.sources([PARIS], QUESTION)] == [1.0]
    answerer.sources([PARIS, TEA])
    assert generator.scored == []



def test_the_question_likelihood_scores_only_the_first_sources_and_keeps_their_share(
        generator: ScriptedGenerator) -> None:
    bananas = text_source(3, "Bananas are yellow when they are ripe.", score=0.2).passage
    generator.likelihood(-30.0, when="Paris")
    generator.likelihood(-1.0, when="tea plant")
    generator.likelihood(0.0, when="Bananas")  # the likeliest, but past the scored two
    answerer = Answerer(generator, replace(SCRIPTED, question_likelihood=1.0,
                                             likelihood_sources=2, weighed_source_mass=None))
    plain = answerer.sources([PARIS, TEA, bananas])
    weighed = answerer.sources([PARIS, TEA, bananas], QUESTION)
    assert [s.passage for s in weighed] == [TEA, PARIS, bananas]
    assert len(generator.scored) == 2
    assert weighed[0].prior + weighed[1].prior == pytest.approx(plain[0].prior + plain[1].prior)
    assert weighed[2].prior == pytest.approx(plain[2].prior)


def test_the_weighed_cut_replaces_the_retrieval_cut(generator: ScriptedGenerator) -> None:
    generator.likelihood(-1.0)
    settings = replace(SCRIPTED, source_mass=None, question_likelihood=0.1,
                       weighed_source_mass=0.5)
    assert len(Answerer(generator, settings).sources([PARIS, TEA], QUESTION)) == 1
    unweighed = replace(settings, question_likelihood=0.0)
    assert len(Answerer(generator, unweighed).sources([PARIS, TEA], QUESTION)) == 2



# ---- answering in each mode, and what is refused ------------------------------------------


def test_stuff_streams_the_answer_then_one_answer_with_checked_citations(
        generator: ScriptedGenerator) -> None:
    written = ("Paris is the capital of France [1]. Green tea is made from tea leaves [3]. "
               "Honey bees store honey in wax combs.")
    generator.enqueue(written)
    pieces, answer = answered(Answerer(generator, SCRIPTED), QUESTION, [PARIS, TEA])
    assert "".join(pieces) == written
    [asked] = generator.asked  # one prompt: both numbered sources, then the question
    assert "[1] Paris\n" + PARIS.text in asked[-1].content
    assert "[2] Tea\n" + TEA.text in asked[-1].content and QUESTION in asked[-1].content
    assert answer.found and answer.mode == "stuff" and answer.model == "scripted"
    assert [s.number for s in answer.sources] == [1, 2] and answer.prompt.startswith("system: ")
    # [3] points nowhere: removed, reported; the sentence it stood for cites what supports it
    assert answer.text == written.replace(" [3]", "")
    assert answer.invalid_citations == (3,)
    [paris, tea] = answer.citations
    assert (paris.number, paris.inferred, answer.text[paris.start:paris.end]) == (1, False, "[1]")
    assert (tea.number, tea.inferred) == (2, True)
    assert [answer.text[a:b] for a, b in answer.uncited] == \
        ["Honey bees store honey in wax combs."]
    assert answer.timings.prompt_tokens > 0
    assert answer.timings.answer_tokens == len(written.encode())
    assert 0 < answer.timings.first_token <= answer.timings.total


def test_rag_sequence_answers_with_the_best_marginal_of_one_prompt_per_source(
        generator: ScriptedGenerator) -> None:
    generator.script({"Paris": 0.55, "Lyon": 0.45}, when=PARIS.text)
    generator.script({"Lyon": 0.95, "Paris": 0.05}, when=TEA.text)
    settings = replace(SCRIPTED, mode="rag-sequence")
    _, answer = answered(Answerer(generator, settings), QUESTION, [PARIS, TEA])
    # priors softmax(1, 0.5) = 0.62, 0.38: Lyon's 0.38 * 0.95 beats Paris's 0.62 * 0.55
    assert answer.text == "Lyon" and answer.mode == "rag-sequence"
    assert [PARIS.text in m[-1].content and TEA.text not in m[-1].content
            for m in generator.asked] == [True, False]
    assert answer.prompt.count("system: ") == 2


def test_rag_token_answers_token_by_token_over_one_prompt_per_source(
        generator: ScriptedGenerator) -> None:
    generator.script({"Paris": 0.6, "Rome": 0.4}, when=PARIS.text)
    generator.script({"Rome": 0.7, "Paris": 0.3}, when=TEA.text)
    answerer = Answerer(generator, replace(SCRIPTED, mode="rag-token"))
    # priors 0.62, 0.38: R has 0.62 * 0.4 + 0.38 * 0.7 = 0.51 of the mixture, P 0.49
    assert answered(answerer, QUESTION, [PARIS, TEA])[1].text == "Rome"
    far = replace(TEA, hit=replace(TEA.hit, score=-1.0))  # priors 0.88, 0.12
    pieces, answer = answered(answerer, QUESTION, [PARIS, far])
    assert "".join(pieces) == answer.text == "Paris" and answer.mode == "rag-token"


@pytest.mark.parametrize("mode", ["stuff", "rag-sequence", "rag-token"])
def test_the_extract_template_copies_from_the_sources_in_every_mode(
        generator: ScriptedGenerator, mode: AnswerMode) -> None:
    etna = text_source(1, "Mount Etna is the tallest active volcano in Europe.").passage
    catania = text_source(2, "Etna looms over the city of Catania.").passage
    generator.script({"Kilimanjaro": 0.6, "Etna": 0.4})  # in neither source, then in both
    for template, expected in (("extract", "Etna"), ("short", "Kilimanjaro")):
        settings = replace(SCRIPTED, mode=mode, template=template)
        _, answer = answered(Answerer(generator, settings),
                             "Which volcano is the tallest in Europe?", [etna, catania])
        assert answer.text == expected


def refusing_server() -> OpenAIGenerator:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected: {request.url}")

    return OpenAIGenerator("http://127.0.0.1:9/v1", "x", transport=httpx.MockTransport(refuse))


@pytest.mark.parametrize("make", [WordCounter, refusing_server])
@pytest.mark.parametrize(("setting", "message"), [
    ({"mode": "rag-sequence"}, "answer mode 'rag-sequence' needs per-token probabilities from "
                               "a local GGUF model; use mode stuff with a server"),
    ({"mode": "rag-token"}, "answer mode 'rag-token' needs per-token probabilities from a "
                            "local GGUF model; use mode stuff with a server"),
    ({"question_likelihood": 0.1}, "generate.question_likelihood needs per-token "
                                   "probabilities from a local GGUF model; set it to 0 with a "
                                   "server"),
])
def test_a_generator_without_token_scores_is_refused_where_they_are_needed(
        make: Callable[[], Generator], setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Answerer(make(), replace(SCRIPTED, **setting))
    assert str(refused.value) == message


@pytest.mark.parametrize(("make", "weight"), [(ScriptedGenerator, DEFAULT_QUESTION_LIKELIHOOD),
                                               (WordCounter, 0.0), (refusing_server, 0.0)])
def test_by_default_the_question_is_weighed_where_the_model_scores_tokens(
        make: Callable[[], Generator], weight: float) -> None:
    assert Answerer(make(), GenerateConfig()).weight == weight
    assert DEFAULT_QUESTION_LIKELIHOOD > 0


# ---- end to end with SmolLM2-135M ----------------------------------------------------------


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


@needs_smollm2
@pytest.mark.slow
def test_stream_yields_text_then_exactly_one_answer(kb: lore.KnowledgeBase) -> None:
    events = list(kb.ask_stream(QUESTION, model="smollm2", settings=SETTINGS))
    assert sum(isinstance(event, Answer) for event in events) == 1
    pieces, answer = split(events)
    check_answer(pieces, answer)
    assert answer.mode == "stuff" and answer.question == QUESTION
    assert answer.sources[0].passage.hit.path.endswith("paris.md")
    assert answer.prompt.startswith("system: ")
    assert "[1] " in answer.prompt and QUESTION in answer.prompt


@needs_smollm2
@pytest.mark.slow
def test_ask_returns_the_streams_answer(kb: lore.KnowledgeBase) -> None:
    _, streamed = split(list(kb.ask_stream(QUESTION, model="smollm2", settings=SETTINGS)))
    answer = kb.ask(QUESTION, model="smollm2", settings=SETTINGS)
    assert (answer.text, answer.sources, answer.citations) == \
        (streamed.text, streamed.sources, streamed.citations)


@needs_smollm2
@pytest.mark.slow
def test_the_question_likelihood_puts_the_source_that_answers_first(
        kb: lore.KnowledgeBase) -> None:
    passages = [text_source(1, "Bananas are yellow when they are ripe.", score=1.0).passage,
                text_source(2, "Paris is the capital and largest city of France.",
                            score=0.8).passage]
    settings = replace(SETTINGS, source_mass=None, weighed_source_mass=None,
                       question_likelihood=1.0)
    answerer = Answerer(create_generator(settings), settings)
    plain = answerer.sources(passages)  # no question: retrieval's order and priors
    weighed = answerer.sources(passages, QUESTION)
    assert [s.passage.text[:5] for s in plain] == ["Banan", "Paris"]
    assert [s.passage.text[:5] for s in weighed] == ["Paris", "Banan"]
    assert weighed[0].prior > plain[0].prior
    # end to end, the answer from the weighed sources names the city
    answer = kb.ask(QUESTION, settings=replace(settings, question_likelihood=0.5))
    assert answer.found and answer.sources[0].passage.hit.path.endswith("paris.md")
    assert "Paris" in answer.text
