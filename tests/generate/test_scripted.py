"""The scripted fake generator (``lore.testing.fakes.ScriptedGenerator``): the Generator
contract, its byte tokenizer, scripted answers and probabilities, and its registration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lore.config import GenerateConfig
from lore.errors import ConfigError, GenerationError
from lore.generate.decode import decode_steps, log_softmax
from lore.generate.protocol import Generator, Message, Sampling, TokenScorer
from lore.generate.registry import create_generator
from lore.testing.contracts import TokenScorerContract
from lore.testing.fakes import (
    END,
    OFF_SCRIPT,
    OPEN,
    SCRIPTED,
    VOCABULARY,
    ScriptedGenerator,
    continuation_logits,
)

STORY = ("Once upon a time a cat named Tom lived in a library, where he slept on the old "
         "atlases and chased the mice that nibbled the poetry shelf every night.")
ASK = (Message("system", "Answer briefly."), Message("user", "What is the cat's name?"))


class TestScriptedGenerator(TokenScorerContract):
    @pytest.fixture
    def generator(self) -> Generator:
        generator = ScriptedGenerator()
        generator.script("Paris is the capital of France.", when="capital of France")
        generator.script(STORY, when="long story")
        generator.likelihood(-4.0)
        return generator


def test_it_is_a_token_scorer_with_a_byte_tokenizer() -> None:
    generator = ScriptedGenerator()
    assert isinstance(generator, TokenScorer)
    assert generator.count_tokens("北京 is") == len("北京 is".encode())
    tokens = generator.prompt_tokens([Message("user", "Hi")])
    assert tokens == [*b"<user>\nHi\n", OPEN]
    assert b"".join(generator.piece(t) for t in tokens) == b"<user>\nHi\n"
    assert generator.ends_turn(END) and not generator.ends_turn(ord("a"))
    assert (generator.piece(END), generator.piece(OPEN)) == (b"", b"")


def test_enqueued_answers_come_in_order_and_the_prompt_keeps_its_answer() -> None:
    generator = ScriptedGenerator()
    generator.enqueue("first [1].", "second")
    assert "".join(generator.stream(ASK)) == "first [1]."
    assert "".join(generator.stream([Message("user", "Another?")])) == "second"
    assert "".join(generator.stream(ASK)) == "first [1]."  # asked again: the same answer
    assert [messages[-1].content for messages in generator.asked] == \
        ["What is the cat's name?", "Another?", "What is the cat's name?"]


def test_the_latest_matching_script_wins() -> None:
    generator = ScriptedGenerator()
    generator.script("anything", when="")
    generator.script("Tom", when="cat")
    assert "".join(generator.stream(ASK)) == "Tom"
    assert "".join(generator.stream([Message("user", "dog?")])) == "anything"
    generator.script("Felix", when="cat's name")
    assert "".join(generator.stream(ASK)) == "Felix"


def test_stream_keeps_max_tokens_and_stop_strings() -> None:
    generator = ScriptedGenerator()
    generator.script("Tom sleeps.\nMore text", when="cat")
    assert "".join(generator.stream(ASK, Sampling(max_tokens=3))) == "Tom"
    assert "".join(generator.stream(ASK, Sampling(stop=("\n",)))) == "Tom sleeps."


def test_a_scripted_distribution_is_spelled_out_by_the_chain_rule() -> None:
    answers = {b"Tom": 0.6, b"Tim": 0.3, b"": 0.1}
    first = log_softmax(continuation_logits(answers, b""))
    assert math.exp(first[ord("T")]) == pytest.approx(0.9)
    assert math.exp(first[END]) == pytest.approx(0.1)
    second = log_softmax(continuation_logits(answers, b"T"))
    assert math.exp(second[ord("o")]) == pytest.approx(0.6 / 0.9)
    assert math.exp(second[ord("i")]) == pytest.approx(0.3 / 0.9)
    done = log_softmax(continuation_logits(answers, b"Tom"))
    assert int(np.argmax(done)) == END and math.exp(done[END]) == pytest.approx(1.0)
    astray = continuation_logits(answers, b"X")  # off the script, the answer ends
    assert int(np.argmax(astray)) == END and astray.shape == (VOCABULARY,)
    assert sorted(set(astray.tolist())) == [OFF_SCRIPT, 0.0]


def test_a_greedy_answers_log_probability_is_its_scripted_probability() -> None:
    generator = ScriptedGenerator()
    generator.script({"Tom": 0.7, "Rex": 0.2}, when="cat")  # 0.1 left for the empty answer
    tokens = generator.prompt_tokens(ASK)
    with generator.reserve():
        steps = list(decode_steps(generator, tokens, Sampling()))
    assert bytes(step.token for step in steps) == b"Tom"
    assert sum(step.logprob for step in steps) == pytest.approx(math.log(0.7))


def test_probabilities_outside_zero_to_one_are_refused() -> None:
    generator = ScriptedGenerator()
    for answers in ({"a": 0.0}, {"a": 1.5}, {"a": 0.6, "b": 0.6}):
        with pytest.raises(ValueError, match="must be in \\(0, 1\\]"):
            generator.script(answers)


def test_what_was_not_scripted_is_a_generation_error_saying_what_to_script() -> None:
    generator = ScriptedGenerator()
    with pytest.raises(GenerationError, match="no answer scripted.*enqueue"):
        "".join(generator.stream(ASK))
    with pytest.raises(GenerationError, match="no likelihood scripted.*likelihood"):
        generator.text_logprob(ASK, "cat's name")
    with pytest.raises(ValueError, match="not in the prompt"):
        generator.text_logprob(ASK, "Who wrote Hamlet?")


def test_text_logprob_is_scripted_by_what_precedes_the_text() -> None:
    generator = ScriptedGenerator()
    generator.likelihood(-9.0)
    generator.likelihood(-2.0, when="Tom")
    with_tom = (Message("user", "Source: Tom the cat.\nWhat is the cat's name?"),)
    assert generator.text_logprob(with_tom, "What is the cat's name?") == -2.0
    assert generator.text_logprob(ASK, "What is the cat's name?") == -9.0
    generator.likelihood(-1.0, when="name?")  # only after the text: does not apply
    assert generator.text_logprob(ASK, "What is the cat's name?") == -9.0
    assert [text for _, text in generator.scored] == ["What is the cat's name?"] * 3


def test_next_logits_outside_reserve_breaks_the_contract() -> None:
    generator = ScriptedGenerator()
    generator.script("Tom")
    tokens = generator.prompt_tokens(ASK)
    with pytest.raises(RuntimeError, match="outside reserve"):
        generator.next_logits(tokens)
    with generator.reserve(2):
        generator.next_logits(tokens, slot=1)
        with pytest.raises(RuntimeError, match="outside reserve"):
            generator.next_logits(tokens, slot=2)
    with pytest.raises(ValueError, match="prompt from prompt_tokens"), generator.reserve():
        generator.next_logits([*b"no prompt"])


def test_a_prompt_past_the_context_is_a_config_error() -> None:
    generator = ScriptedGenerator(context_tokens=64)
    generator.script("Tom")
    with pytest.raises(ConfigError, match="exceed the context of 64 tokens"):
        "".join(generator.stream(ASK, Sampling(max_tokens=40)))


def test_reset_forgets_everything() -> None:
    generator = ScriptedGenerator()
    generator.enqueue("a")
    generator.script("b")
    generator.likelihood(-1.0)
    generator.text_logprob(ASK, "Answer briefly.")
    generator.reset()
    assert (generator.asked, generator.scored) == ([], [])
    with pytest.raises(GenerationError):
        "".join(generator.stream(ASK))


def test_the_registry_builds_the_shared_instance() -> None:
    assert create_generator(GenerateConfig(), "scripted") is SCRIPTED
    assert create_generator(GenerateConfig(model="scripted", context_tokens=512)) is SCRIPTED
    assert SCRIPTED.name == "scripted"
