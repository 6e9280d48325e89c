"""RAG-Token and RAG-Sequence over one prompt per source, with SmolLM2-135M; source priors."""

from __future__ import annotations

import numpy as np
import pytest

from lore.generate.local import LocalGenerator
from lore.generate.marginal import rag_sequence, rag_token, source_priors
from lore.generate.protocol import Message, Sampling
from lore.testing.models import needs_smollm2

SYSTEM = Message("system", "You answer questions from the source.")
PROMPTS = (
    (SYSTEM, Message("user", "Source: The cat is named Tom and sleeps on the sofa.\n\n"
                             "What is the cat's name?")),
    (SYSTEM, Message("user", "Source: The dog is named Rex and guards the garden.\n\n"
                             "What is the dog's name?")),
)


def test_priors_are_a_softmax_of_the_scores() -> None:
    priors = source_priors([2.0, 1.0, 0.0])
    expected = np.exp([2.0, 1.0, 0.0]) / np.exp([2.0, 1.0, 0.0]).sum()
    np.testing.assert_allclose(priors, expected)
    assert priors.sum() == pytest.approx(1.0)


def test_lower_temperature_sharpens_the_priors() -> None:
    scores = [0.9, 0.5, 0.1]
    cold, warm, hot = (source_priors(scores, t) for t in (0.1, 1.0, 10.0))
    assert cold[0] > warm[0] > hot[0]
    assert cold[-1] < warm[-1] < hot[-1]
    for priors in (cold, warm, hot):
        assert priors.sum() == pytest.approx(1.0)
        assert list(priors) == sorted(priors, reverse=True)  # the ranking is kept


def test_priors_of_equal_or_huge_scores() -> None:
    np.testing.assert_allclose(source_priors([3.0, 3.0]), [0.5, 0.5])
    huge = source_priors([1e6, 0.0], temperature=0.0)  # temperature 0: no overflow, one-hot
    np.testing.assert_allclose(huge, [1.0, 0.0])


@pytest.fixture(scope="module")
def smollm2() -> LocalGenerator:
    # One thread: see tests/rerank/test_llm.py.
    return LocalGenerator("smollm2", context_tokens=2048, threads=1)


@pytest.fixture(scope="module")
def prompts(smollm2: LocalGenerator) -> list[list[int]]:
    return [smollm2.prompt_tokens(messages) for messages in PROMPTS]


@needs_smollm2
@pytest.mark.slow
def test_rag_sequence_is_deterministic_and_ranks_by_marginal(
        smollm2: LocalGenerator, prompts: list[list[int]]) -> None:
    sampling = Sampling(max_tokens=16)
    priors = np.array([0.6, 0.4])
    best, candidates, marginals = rag_sequence(smollm2, prompts, priors, sampling)
    assert rag_sequence(smollm2, prompts, priors, sampling) == (best, candidates, marginals)
    assert [c.source for c in candidates] == [0, 1]
    assert all(c.text and c.logprob <= 0.0 for c in candidates)
    assert set(marginals) == {c.text for c in candidates}
    assert all(m >= 0.0 for m in marginals.values())
    assert sum(marginals.values()) <= 1.0 + 1e-9  # p(y | x) over some of the answers
    assert marginals[best] == max(marginals.values())


@needs_smollm2
@pytest.mark.slow
def test_rag_sequence_candidates_are_each_prompts_greedy_answer(
        smollm2: LocalGenerator, prompts: list[list[int]]) -> None:
    # rag_sequence decodes with generator.steps, so the same Sampling (repetition penalty
    # included) gives stream's text.
    sampling = Sampling(max_tokens=16)
    best, candidates, _ = rag_sequence(smollm2, prompts, np.array([1.0, 0.0]), sampling)
    for candidate, messages in zip(candidates, PROMPTS, strict=True):
        assert candidate.text == "".join(smollm2.stream(messages, sampling)).strip()
    assert best == candidates[0].text  # the only source with any prior


@needs_smollm2
@pytest.mark.slow
def test_rag_token_is_deterministic(smollm2: LocalGenerator, prompts: list[list[int]]) -> None:
    sampling = Sampling(max_tokens=16)
    priors = np.array([0.5, 0.5])
    pieces = list(rag_token(smollm2, prompts, priors, sampling))
    assert pieces and all(pieces)
    assert list(rag_token(smollm2, prompts, priors, sampling)) == pieces


@needs_smollm2
@pytest.mark.slow
def test_rag_token_with_all_prior_on_one_source_is_its_greedy_answer(
        smollm2: LocalGenerator, prompts: list[list[int]]) -> None:
    # rag_token applies no repetition penalty, so compare with greedy decoding without one.
    sampling = Sampling(max_tokens=16, repeat_penalty=1.0)
    for priors, messages in ((np.array([1.0, 0.0]), PROMPTS[0]),
                             (np.array([0.0, 1.0]), PROMPTS[1])):
        mixed = "".join(rag_token(smollm2, prompts, priors, sampling))
        assert mixed == "".join(smollm2.stream(messages, sampling))


@needs_smollm2
@pytest.mark.slow
def test_rag_token_stops_at_a_stop_string(smollm2: LocalGenerator,
                                          prompts: list[list[int]]) -> None:
    sampling = Sampling(max_tokens=16, repeat_penalty=1.0)
    full = "".join(rag_token(smollm2, prompts, np.array([0.5, 0.5]), sampling))
    words = full.split()
    assert len(words) >= 3, f"the answer is too short to cut: {full!r}"
    stop = " " + words[len(words) // 2]
    cut = "".join(rag_token(smollm2, prompts, np.array([0.5, 0.5]),
                            Sampling(max_tokens=16, repeat_penalty=1.0, stop=(stop,))))
    assert cut == full[:full.index(stop)]
