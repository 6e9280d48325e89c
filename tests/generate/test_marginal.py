"""RAG-Token and RAG-Sequence over one prompt per source: exactly, over scripted token
probabilities (``ScriptedGenerator``); then once each with SmolLM2-135M. Source priors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lore.generate.local import LocalGenerator
from lore.generate.marginal import (
    Candidate,
    fast_marginals,
    mixture,
    rag_sequence,
    rag_token,
    source_priors,
)
from lore.generate.protocol import Message, Sampling
from lore.testing.fakes import ScriptedGenerator
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


# ---- over scripted token probabilities -----------------------------------------------------


def asking(source: str) -> tuple[Message, ...]:
    return (SYSTEM, Message("user", f"Source: {source}\n\nWhat is the pet's name?"))


def scripted(*answers: dict[str, float]) -> tuple[ScriptedGenerator, list[list[int]]]:
    """A generator whose prompt for source i (``pet i``) answers with ``answers[i]``."""
    generator = ScriptedGenerator()
    for index, chances in enumerate(answers):
        generator.script(chances, when=f"pet {index}.")
    return generator, [generator.prompt_tokens(asking(f"pet {i}.")) for i in range(len(answers))]


def test_rag_sequence_ranks_candidates_by_the_fast_decoding_marginal() -> None:
    # The likeliest source answers Rex, unsure; the two others answer Tom, sure of it.
    generator, prompts = scripted({"Rex": 0.4, "Tom": 0.35, "Ben": 0.25},
                                  {"Tom": 0.9, "Rex": 0.1}, {"Tom": 0.8, "Max": 0.2})
    best, candidates, marginals = rag_sequence(generator, prompts, np.array([0.5, 0.3, 0.2]),
                                               Sampling(max_tokens=16))
    assert [(c.text, c.source) for c in candidates] == [("Rex", 0), ("Tom", 1), ("Tom", 2)]
    assert [c.logprob for c in candidates] == pytest.approx([math.log(p) for p in (0.4, 0.9,
                                                                                     0.8)])
    # p(Rex | source 1) = 0.1 is not counted: source 1 did not produce Rex.
    assert marginals == pytest.approx({"Rex": 0.5 * 0.4, "Tom": 0.3 * 0.9 + 0.2 * 0.8})
    assert best == "Tom"


def test_fast_marginals_add_up_the_sources_of_one_answer() -> None:
    candidates = [Candidate("a", 0, math.log(0.5)), Candidate("b", 1, 0.0),
                  Candidate("a", 2, math.log(0.25))]
    assert fast_marginals(candidates, np.array([0.2, 0.3, 0.5])) == \
        pytest.approx({"a": 0.2 * 0.5 + 0.5 * 0.25, "b": 0.3})


def test_a_candidate_counts_the_token_that_brought_its_stop_string() -> None:
    generator, prompts = scripted({"Tom": 0.4, "Tom\nand more": 0.6})
    _, [candidate], _ = rag_sequence(generator, prompts, np.array([1.0]),
                                     Sampling(stop=("\n",)))
    assert candidate.text == "Tom" and candidate.logprob == pytest.approx(math.log(0.6))


def test_rag_sequence_candidates_are_greedy_whatever_the_temperature() -> None:
    generator, prompts = scripted({"Tom": 0.6, "Rex": 0.4})
    for _ in range(5):
        best, _, _ = rag_sequence(generator, prompts, np.array([1.0]),
                                  Sampling(temperature=1.5))
        assert best == "Tom"


def test_each_rag_sequence_candidate_copies_its_own_source() -> None:
    # Unconstrained, both would answer Kilimanjaro; each may only copy from its own text.
    generator, prompts = scripted({"Kilimanjaro": 0.5, "Etna": 0.3, "Fuji": 0.2},
                                  {"Kilimanjaro": 0.5, "Etna": 0.3, "Fuji": 0.2})
    sampling = Sampling(copy_from=("Mount Etna erupts.", "Fuji is tall."))
    _, candidates, _ = rag_sequence(generator, prompts, np.array([0.5, 0.5]), sampling,
                                    own_source=True)
    assert [c.text for c in candidates] == ["Etna", "Fuji"]
    with pytest.raises(ValueError, match="one text per prompt"):
        rag_sequence(generator, prompts, np.array([0.5, 0.5]),
                     Sampling(copy_from=("Etna",)), own_source=True)


def test_rag_token_takes_the_mixtures_best_token_that_no_source_ranks_first() -> None:
    # Source 0 ranks A first, source 1 B; both rank C second, and C has the mixture's most.
    generator, prompts = scripted({"A": 0.5, "C": 0.4, "B": 0.1},
                                  {"B": 0.5, "C": 0.4, "A": 0.1})
    assert "".join(rag_token(generator, prompts, np.array([0.5, 0.5]), Sampling())) == "C"
    # Priors that trust source 0 make its first choice the mixture's: 0.46 against 0.4.
    assert "".join(rag_token(generator, prompts, np.array([0.9, 0.1]), Sampling())) == "A"


def test_the_mixture_is_the_prior_weighted_sum_of_next_token_probabilities() -> None:
    generator, prompts = scripted({"A": 0.5, "C": 0.4, "B": 0.1},
                                  {"B": 0.5, "C": 0.4, "A": 0.1})
    with generator.reserve(2):
        mixed = np.exp(mixture(generator, prompts, np.log([0.5, 0.5])))
    assert [mixed[ord(letter)] for letter in "ABC"] == pytest.approx([0.3, 0.3, 0.4])
    assert mixed.sum() == pytest.approx(1.0)


def test_rag_token_draws_each_token_from_the_source_that_knows_it() -> None:
    # Both sources begin alike; source 1 alone knows how the name ends.
    generator, prompts = scripted({"Tom ": 1.0}, {"Tom Riddle": 1.0})
    answer = "".join(rag_token(generator, prompts, np.array([0.4, 0.6]), Sampling()))
    assert answer == "Tom Riddle"
    once = "".join(rag_token(generator, prompts, np.array([0.7, 0.3]), Sampling()))
    assert once == "Tom "  # the first source's end of turn outweighs the second's "R"


def test_rag_token_with_all_prior_on_one_source_is_its_greedy_answer() -> None:
    generator, prompts = scripted({"Tom": 0.6, "Rex": 0.4}, {"Rex": 0.9, "Tom": 0.1})
    for priors, answer in (([1.0, 0.0], "Tom"), ([0.0, 1.0], "Rex")):
        assert "".join(rag_token(generator, prompts, np.array(priors), Sampling())) == answer


def test_rag_token_stops_at_a_stop_string_and_max_tokens() -> None:
    generator, prompts = scripted({"Tom sleeps. Question: more": 1.0},
                                  {"Tom sleeps. Question: more": 1.0})
    priors = np.array([0.5, 0.5])
    stopped = list(rag_token(generator, prompts, priors, Sampling(stop=(" Question:",))))
    assert all(stopped) and "".join(stopped) == "Tom sleeps."
    assert "".join(rag_token(generator, prompts, priors, Sampling(max_tokens=3))) == "Tom"


def test_rag_token_copies_from_the_union_of_the_sources() -> None:
    generator, prompts = scripted({"Kilimanjaro": 0.6, "Fuji": 0.4},
                                  {"Kilimanjaro": 0.6, "Fuji": 0.4})
    sampling = Sampling(copy_from=("Mount Etna erupts.", "Fuji is tall."))
    assert "".join(rag_token(generator, prompts, np.array([0.5, 0.5]), sampling)) == "Fuji"


# ---- with SmolLM2-135M ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> LocalGenerator:
    # One thread: see tests/rerank/test_llm.py.
    return LocalGenerator("smollm2", context_tokens=2048, threads=1)


@pytest.fixture(scope="module")
def prompts(smollm2: LocalGenerator) -> list[list[int]]:
    return [smollm2.prompt_tokens(messages) for messages in PROMPTS]


@needs_smollm2
@pytest.mark.slow
def test_rag_sequence_candidates_are_each_prompts_greedy_answer(
        smollm2: LocalGenerator, prompts: list[list[int]]) -> None:
    # rag_sequence decodes as stream does (repetition penalty included), in slot 0.
    sampling = Sampling(max_tokens=16)
    priors = np.array([0.6, 0.4])
    best, candidates, marginals = rag_sequence(smollm2, prompts, priors, sampling)
    assert rag_sequence(smollm2, prompts, priors, sampling) == (best, candidates, marginals)
    for candidate, messages in zip(candidates, PROMPTS, strict=True):
        assert candidate.text == "".join(smollm2.stream(messages, sampling)).strip()
        assert candidate.text and candidate.logprob <= 0.0
    assert sum(marginals.values()) <= 1.0 + 1e-9  # p(y | x) over some of the answers


@needs_smollm2
@pytest.mark.slow
def test_rag_token_with_all_prior_on_one_source_is_its_greedy_answer_in_its_own_slot(
        smollm2: LocalGenerator, prompts: list[list[int]]) -> None:
    # rag_token applies no repetition penalty, so compare with greedy decoding without one;
    # the second source is decoded in slot 1, a copy of the model with its own cache.
    sampling = Sampling(max_tokens=16, repeat_penalty=1.0)
    for priors, messages in ((np.array([1.0, 0.0]), PROMPTS[0]),
                             (np.array([0.0, 1.0]), PROMPTS[1])):
        mixed = list(rag_token(smollm2, prompts, priors, sampling))
        assert mixed and "".join(mixed) == "".join(smollm2.stream(messages, sampling))
        assert list(rag_token(smollm2, prompts, priors, sampling)) == mixed
