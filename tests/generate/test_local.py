"""The local llama.cpp generator with SmolLM2-135M: the Generator contract (with its
TokenScorer part), its chat template, text log-probabilities, context check and runner slots;
and the runner's incremental evaluation (``LlamaRunner.logits_for``). Decoding itself (the
repetition penalty, picking) is tested without a model in test_decode.py."""

from __future__ import annotations

import numpy as np
import pytest

from lore.errors import ConfigError
from lore.generate.local import LocalGenerator
from lore.generate.protocol import Generator, Message, Sampling, TokenScorer
from lore.testing.contracts import TokenScorerContract, assert_same_next_token
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
class TestLocalGenerator(TokenScorerContract):
    @pytest.fixture(scope="class")
    @classmethod
    def generator(cls, smollm2: LocalGenerator) -> Generator:
        return smollm2


def test_the_local_generator_is_a_token_scorer() -> None:
    scorer: type[TokenScorer] = LocalGenerator  # mypy checks the signatures
    assert issubclass(scorer, TokenScorer)


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
    assert_same_next_token(incremental, fresh)
    assert_same_next_token(again, fresh)  # one token evaluated alone: see its docstring
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
