"""RAG-Token and RAG-Sequence decoding (Lewis et al., "Retrieval-Augmented Generation for
Knowledge-Intensive NLP Tasks", NeurIPS 2020): the top-k sources z are a latent variable.

Each source gets its own prompt (instruction, that one source, the question), kept in its own
KV cache, and p(z | x) comes from retrieval scores (``source_priors``).

- RAG-Token: p(y | x) = prod_t sum_z p(z | x) p(y_t | x, z, y_<t). Every step mixes the k
  next-token distributions and greedily takes the mixture's best token, so the answer can draw
  each token from a different source.
- RAG-Sequence: p(y | x) = sum_z p(z | x) prod_t p(y_t | x, z, y_<t). One greedy candidate per
  source; candidates are ranked by that marginal with the paper's "fast decoding"
  approximation: p(y | x, z) counts only for the sources whose decoding produced y (the others
  are taken as zero instead of being scored again).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lore.generate.decode import TextStream, decode_steps, log_softmax
from lore.generate.protocol import Sampling, TokenScorer
from lore.generate.spans import SpanConstraint

DEFAULT_PRIOR_TEMPERATURE = 1.0
"""Softmax temperature over fused retrieval scores (see ``RetrieveConfig.fusion``)."""


def source_priors(scores: Sequence[float], temperature: float = DEFAULT_PRIOR_TEMPERATURE
                  ) -> np.ndarray:
    """p(z | x): softmax of retrieval scores divided by ``temperature``."""
    values = np.asarray(scores, dtype=np.float64) / max(temperature, 1e-6)
    values = np.exp(values - values.max())
    priors: np.ndarray = values / values.sum()
    return priors


def rag_token(scorer: TokenScorer, prompts: Sequence[list[int]], priors: np.ndarray,
              sampling: Sampling) -> Iterator[str]:
    """Greedy RAG-Token decoding over one prompt per source, each in its own slot of
    ``scorer``; yields text as it is decided. No repetition penalty applies."""
    sequences = [list(prompt) for prompt in prompts]
    log_prior = np.log(np.maximum(priors, 1e-300))
    text = TextStream(sampling.stop)
    spans = SpanConstraint(sampling.copy_from, scorer.piece, scorer.ends_turn) \
        if sampling.copy_from else None
    with scorer.reserve(len(prompts)):
        for _ in range(sampling.max_tokens):
            mixed = mixture(scorer, sequences, log_prior)
            if spans is not None:
                allowed = spans.restrict(mixed)
                if allowed is None:
                    break
                mixed = allowed
            token = int(np.argmax(mixed))
            if scorer.ends_turn(token):
                break
            if spans is not None:
                spans.accept(token)
            for sequence in sequences:
                sequence.append(token)
            piece = text.feed(scorer.piece(token))
            if piece:
                yield piece
            if text.stopped:
                return
    rest = text.finish()
    if rest:
        yield rest


def mixture(scorer: TokenScorer, sequences: Sequence[Sequence[int]], log_prior: np.ndarray
            ) -> np.ndarray:
    """log sum_z p(z | x) p(next | x, z, y_<t) over the vocabulary, sequence z in slot z."""
    return _logsumexp(np.stack([
        prior + log_softmax(scorer.next_logits(sequence, slot))
        for slot, (prior, sequence) in enumerate(zip(log_prior, sequences, strict=True))
    ]))


@dataclass(frozen=True, slots=True)
class Candidate:
    """RAG-Sequence: one source's greedy answer and its evidence."""

    text: str
    source: int
    """Index of the source whose prompt produced it."""
    logprob: float
    """log p(y | x, z) summed over the answer's tokens."""


def rag_sequence(scorer: TokenScorer, prompts: Sequence[list[int]], priors: np.ndarray,
                 sampling: Sampling, own_source: bool = False
                 ) -> tuple[str, list[Candidate], dict[str, float]]:
    """Greedy candidate per source, ranked by fast-decoding marginal likelihood.

    Each candidate is decoded as ``decode_steps`` decodes (``sampling``'s repetition penalty
    included) in slot 0, greedily whatever ``sampling.temperature`` says.

    Args:
        own_source: ``sampling.copy_from`` holds one text per prompt, and each candidate
            is a span of its own prompt's text.

    Returns the best answer, every candidate, and each distinct answer's marginal
    probability p(y | x).
    """
    if own_source and len(sampling.copy_from) != len(prompts):
        raise ValueError(f"own_source needs one text per prompt: {len(prompts)} prompts, "
                         f"{len(sampling.copy_from)} texts")
    greedy = replace(sampling, temperature=0.0)
    candidates = []
    with scorer.reserve(1):
        for index, prompt in enumerate(prompts):
            own = replace(greedy, copy_from=(sampling.copy_from[index],)) \
                if own_source else greedy
            candidates.append(candidate(scorer, prompt, index, own))
    marginals = fast_marginals(candidates, priors)
    best = max(marginals, key=lambda answer: marginals[answer])
    return best, candidates, marginals


def candidate(scorer: TokenScorer, prompt: Sequence[int], source: int, sampling: Sampling
              ) -> Candidate:
    """Source ``source``'s greedy answer to ``prompt`` and its log p(y | x, z), up to and
    including the token that brought a stop string (the text is cut before the stop)."""
    text = TextStream(sampling.stop)
    logprob = 0.0
    for step in decode_steps(scorer, prompt, sampling):
        logprob += step.logprob
        text.feed(scorer.piece(step.token))
        if text.stopped:
            break
    text.finish()
    return Candidate(text.text.strip(), source, logprob)


def fast_marginals(candidates: Sequence[Candidate], priors: np.ndarray) -> dict[str, float]:
    """p(y | x) of each distinct candidate text y: sum over the sources z whose candidate is
    y of p(z | x) p(y | x, z), the others taken as zero (the paper's fast decoding)."""
    marginals: dict[str, float] = {}
    for one in candidates:
        weight = float(priors[one.source]) * float(np.exp(one.logprob))
        marginals[one.text] = marginals.get(one.text, 0.0) + weight
    return marginals


def _logsumexp(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=0)
    mixed: np.ndarray = top + np.log(np.exp(rows - top).sum(axis=0))
    return mixed
