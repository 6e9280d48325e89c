"""The local llama.cpp generator with SmolLM2-135M: the Generator contract, its chat template,
log-probabilities, repetition penalty, context check and runner slots; and the runner's
incremental evaluation (``LlamaRunner.logits_for``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lore.errors import ConfigError
from lore.generate.decode import log_softmax
from lore.generate.local import LocalGenerator, penalize
from lore.generate.protocol import Generator, Message, Sampling
from lore.testing.contracts import GeneratorContract
from lore.testing.models import needs_smollm2

MESSAGES = (Message("system", "You are a helpful assistant."),
            Message("user", "What is the capital of France?"))


@pytest.fixture(scope="module")
def smollm2() -> LocalGenerator:
    # One thread: llama.cpp's OpenMP threads spin while they wait, which on a busy shared
    # machine makes two threads several times slower than one (see tests/rerank/test_llm.py).
    return LocalGenerator("smollm2", context_tokens=2048, threads=1)


@needs_smollm2
@pytest.mark.slow
class TestLocalGenerator(GeneratorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def generator(cls, smollm2: LocalGenerator) -> Generator:
        return smollm2


# ---- repetition penalty (no model) ---------------------------------------------------------


def test_penalize_divides_positive_and_multiplies_negative_logits() -> None:
    logits = np.array([2.0, -1.0, 0.5, 3.0, 0.0])
    adjusted = penalize(logits, [0, 1, 1, 4], 2.0)
    np.testing.assert_array_equal(adjusted, [1.0, -2.0, 0.5, 3.0, 0.0])
    np.testing.assert_array_equal(logits, [2.0, -1.0, 0.5, 3.0, 0.0])  # not changed in place


def test_a_repeated_token_always_becomes_less_likely() -> None:
    logits = np.array([2.0, -1.0, 0.5])
    for token in range(3):
        adjusted = penalize(logits, [token], 1.3)
        assert adjusted[token] < logits[token]
        others = [t for t in range(3) if t != token]
        np.testing.assert_array_equal(adjusted[others], logits[others])


def test_no_penalty_or_no_recent_tokens_changes_nothing() -> None:
    logits = np.array([2.0, -1.0, 0.5])
    np.testing.assert_array_equal(penalize(logits, [0, 1], 1.0), logits)
    np.testing.assert_array_equal(penalize(logits, [], 1.5), logits)


class FixedLogits:
    """A runner stand-in for ``LocalGenerator.steps``: the same logits after any tokens, and
    no end-of-turn token, so only the repetition penalty changes what is picked."""

    def __init__(self, logits: Sequence[float]) -> None:
        self.logits = np.asarray(logits, dtype=np.float64)

    def logits_for(self, tokens: Sequence[int]) -> np.ndarray:
        return self.logits.copy()

    def ends_turn(self, token: int) -> bool:
        return False


def picked(generator: LocalGenerator, sampling: Sampling, prompt: Sequence[int] = (0, 1)
           ) -> list[int]:
    runner = FixedLogits([5.0, 4.0, 3.0])
    return [s.token for s in generator.steps(runner, list(prompt), sampling)]  # type: ignore[arg-type]


@needs_smollm2
@pytest.mark.slow
def test_steps_penalise_only_generated_tokens_within_the_window(smollm2: LocalGenerator
                                                                 ) -> None:
    # Prompt tokens 0 and 1 are not penalised: the first pick is still token 0.
    assert picked(smollm2, Sampling(max_tokens=4, repeat_penalty=2.0)) == [0, 1, 2, 0]
    assert picked(smollm2, Sampling(max_tokens=4, repeat_penalty=2.0, repeat_window=1)) == \
        [0, 1, 0, 1]
    assert picked(smollm2, Sampling(max_tokens=4, repeat_penalty=1.0)) == [0, 0, 0, 0]


@needs_smollm2
@pytest.mark.slow
def test_step_log_probabilities_ignore_the_penalty(smollm2: LocalGenerator) -> None:
    steps = list(smollm2.steps(FixedLogits([5.0, 4.0, 3.0]), [0],  # type: ignore[arg-type]
                               Sampling(max_tokens=2, repeat_penalty=2.0)))
    expected = log_softmax(np.array([5.0, 4.0, 3.0]))
    assert [s.token for s in steps] == [0, 1]
    np.testing.assert_allclose([s.logprob for s in steps], expected[:2])


@needs_smollm2
@pytest.mark.slow
def test_a_zero_window_penalises_nothing(smollm2: LocalGenerator) -> None:
    assert picked(smollm2, Sampling(max_tokens=4, repeat_penalty=2.0, repeat_window=0)) == \
        [0, 0, 0, 0]


# ---- with the model ------------------------------------------------------------------------


@needs_smollm2
@pytest.mark.slow
def test_prompt_tokens_render_the_chat_template_with_the_answer_turn_open(
        smollm2: LocalGenerator) -> None:
    tokens = smollm2.prompt_tokens(MESSAGES)
    text = bytes(smollm2.runner.llama.detokenize(tokens, special=True)).decode()
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                    "<|im_start|>assistant\n")
    # The turn markers are the model's control tokens, not text spelled out in pieces.
    opener = smollm2.runner.tokenize("<|im_start|>", special=True)
    assert len(opener) == 1 and tokens.count(opener[0]) == 3


@needs_smollm2
@pytest.mark.slow
def test_steps_yield_log_probabilities_of_the_streamed_tokens(smollm2: LocalGenerator) -> None:
    sampling = Sampling(max_tokens=12)
    runner = smollm2.runner
    with runner.lock:
        steps = list(smollm2.steps(runner, smollm2.prompt_tokens(MESSAGES), sampling))
    assert 0 < len(steps) <= 12
    assert all(np.isfinite(s.logprob) and s.logprob <= 0.0 for s in steps)
    text = b"".join(runner.piece(s.token) for s in steps).decode("utf-8", "replace")
    assert text == "".join(smollm2.stream(MESSAGES, sampling))


@needs_smollm2
@pytest.mark.slow
def test_a_prompt_and_answer_past_the_context_is_a_config_error(smollm2: LocalGenerator
                                                                 ) -> None:
    size = len(smollm2.prompt_tokens(MESSAGES))
    with pytest.raises(ConfigError) as raised:
        list(smollm2.stream(MESSAGES, Sampling(max_tokens=2040)))
    message = str(raised.value)
    assert f"({size} tokens)" in message and "(2040)" in message and "2048" in message


@needs_smollm2
@pytest.mark.slow
def test_runner_slots_have_their_own_cache_and_the_same_model(smollm2: LocalGenerator) -> None:
    first, second = smollm2.runner_for(0), smollm2.runner_for(1)
    assert first is smollm2.runner
    assert second is not first and second.llama is not first.llama
    assert smollm2.runner_for(1) is second  # loaded once
    tokens = first.tokenize("Runner slots share the weights but not the cache")
    with first.lock, second.lock:
        np.testing.assert_array_equal(first.logits_for(tokens), second.logits_for(tokens))


@needs_smollm2
@pytest.mark.slow
def test_logits_for_evaluates_only_the_new_tokens_and_matches_a_fresh_evaluation(
        smollm2: LocalGenerator) -> None:
    runner = smollm2.runner
    head = runner.tokenize("The capital of France is")
    tail = runner.tokenize(" Paris, and the capital of Italy is")
    other = runner.tokenize("Something else entirely")
    with runner.lock:
        runner.logits_for(other)  # so that nothing of head is cached
        runner.logits_for(head)
        before = runner.evaluated
        incremental = runner.logits_for(head + tail)
        assert runner.evaluated - before == len(tail)
        runner.logits_for(other)
        before = runner.evaluated
        fresh = runner.logits_for(head + tail)
        assert runner.evaluated - before == len(head + tail)
        before = runner.evaluated
        again = runner.logits_for(head + tail)  # only the latest logits are kept
        assert runner.evaluated - before == 1
    np.testing.assert_allclose(incremental, fresh, rtol=0, atol=1e-3)
    np.testing.assert_allclose(again, fresh, rtol=0, atol=1e-3)
    assert runner.llama.detokenize([int(fresh.argmax())]).decode().strip() == "Rome"


@needs_smollm2
@pytest.mark.slow
def test_logits_for_rejects_nothing_and_too_much(smollm2: LocalGenerator) -> None:
    runner = smollm2.runner
    with runner.lock:
        with pytest.raises(ValueError, match="at least one token"):
            runner.logits_for([])
        with pytest.raises(ConfigError, match="2049 tokens exceeds the model's context of 2048"):
            runner.logits_for([1] * 2049)


def asking(source: str) -> list[Message]:
    return [Message("system", "Answer from the source."),
            Message("user", f"Source: {source}\n\nQuestion: What is the capital of France?")]


@needs_smollm2
@pytest.mark.slow
def test_a_question_is_likelier_after_a_source_that_answers_it(smollm2: LocalGenerator
                                                                ) -> None:
    question = "What is the capital of France?"
    answering = smollm2.text_logprob(asking("Paris is the capital of France."), question)
    unrelated = smollm2.text_logprob(asking("Bananas are yellow when ripe."), question)
    assert answering > unrelated + 1.0  # nats


@needs_smollm2
@pytest.mark.slow
def test_text_logprob_leaves_the_prompt_cached_for_the_answer(smollm2: LocalGenerator) -> None:
    messages = asking("Paris is the capital of France.")
    smollm2.text_logprob(messages, "What is the capital of France?")
    before = smollm2.runner.evaluated
    next(iter(smollm2.stream(messages, Sampling(max_tokens=1))))
    # Only the tail after the question: its turn's end and the answer turn's opening.
    assert smollm2.runner.evaluated - before <= 8


@needs_smollm2
@pytest.mark.slow
def test_text_logprob_of_text_not_in_the_prompt_is_refused(smollm2: LocalGenerator) -> None:
    with pytest.raises(ValueError, match="not in the prompt"):
        smollm2.text_logprob(asking("Paris."), "Who wrote Hamlet?")
