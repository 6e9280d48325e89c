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
from contextlib import ExitStack
from dataclasses import dataclass, replace

import numpy as np

from lore.generate.decode import TextStream, log_softmax
from lore.generate.local import LocalGenerator
from lore.generate.protocol import Sampling
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


def rag_token(generator: LocalGenerator, prompts: Sequence[list[int]], priors: np.ndarray,
              sampling: Sampling) -> Iterator[str]:
    """Greedy RAG-Token decoding over one prompt per source; yields text as it is decided."""
    runners = [generator.runner_for(slot) for slot in range(len(prompts))]
    sequences = [list(prompt) for prompt in prompts]
    log_prior = np.log(np.maximum(priors, 1e-300))
    text = TextStream(sampling.stop)
    spans = SpanConstraint(sampling.copy_from, runners[0].piece, runners[0].ends_turn) \
        if sampling.copy_from else None
    with ExitStack() as stack:
        for runner in runners:
            stack.enter_context(runner.lock)
        for _ in range(sampling.max_tokens):
            mixed = _logsumexp(np.stack([
                prior + log_softmax(runner.logits_for(sequence))
                for prior, runner, sequence in zip(log_prior, runners, sequences, strict=True)
            ]))
            if spans is not None:
                allowed = spans.restrict(mixed)
                if allowed is None:
                    break
                mixed = allowed
            token = int(np.argmax(mixed))
            if runners[0].ends_turn(token):
                break
            if spans is not None:
                spans.accept(token)
            for sequence in sequences:
                sequence.append(token)
            piece = text.feed(runners[0].piece(token))
            if piece:
                yield piece
            if text.stopped:
                return
    rest = text.finish()
    if rest:
        yield rest


@dataclass(frozen=True, slots=True)
class Candidate:
    """RAG-Sequence: one source's greedy answer and its evidence."""

    text: str
    source: int
    """Index of the source whose prompt produced it."""
    logprob: float
    """log p(y | x, z) summed over the answer's tokens."""


def rag_sequence(generator: LocalGenerator, prompts: Sequence[list[int]], priors: np.ndarray,
                 sampling: Sampling, own_source: bool = False
                 ) -> tuple[str, list[Candidate], dict[str, float]]:
    """Greedy candidate per source, ranked by fast-decoding marginal likelihood.

    Args:
        own_source: ``sampling.copy_from`` holds one text per prompt, and each candidate
            is a span of its own prompt's text.

    Returns the best answer, every candidate, and each distinct answer's marginal
    probability p(y | x).
    """
    if own_source and len(sampling.copy_from) != len(prompts):
        raise ValueError(f"own_source needs one text per prompt: {len(prompts)} prompts, "
                         f"{len(sampling.copy_from)} texts")
    candidates = []
    runner = generator.runner
    with runner.lock:
        for index, prompt in enumerate(prompts):
            text = TextStream(sampling.stop)
            logprob = 0.0
            own = replace(sampling, copy_from=(sampling.copy_from[index],)) \
                if own_source else sampling
            for step in generator.steps(runner, prompt, own):
                logprob += step.logprob
                text.feed(runner.piece(step.token))
                if text.stopped:
                    break
            text.finish()
            candidates.append(Candidate(text.text.strip(), index, logprob))
    marginals: dict[str, float] = {}
    for candidate in candidates:
        weight = float(priors[candidate.source]) * float(np.exp(candidate.logprob))
        marginals[candidate.text] = marginals.get(candidate.text, 0.0) + weight
    best = max(marginals, key=lambda answer: marginals[answer])
    return best, candidates, marginals


def _logsumexp(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=0)
    mixed: np.ndarray = top + np.log(np.exp(rows - top).sum(axis=0))
    return mixed
