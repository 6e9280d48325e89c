"""Maximal marginal relevance: trade a little relevance for results that are not all alike.

Carbonell and Goldstein, "The Use of MMR, Diversity-Based Reranking for Reordering Documents
and Producing Summaries", SIGIR 1998. Each step takes the candidate with the best
``(1 - diversity) * relevance - diversity * (max similarity to those already taken)``, where
relevance is the fused score scaled to [0, 1] and similarity the cosine of chunk embeddings,
so chunks of one document, which resemble each other, stop filling the top of the list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lore.retrieve.fuse import normalize_min_max


def mmr(ranking: Sequence[tuple[int, float]], vectors: np.ndarray, k: int,
        diversity: float) -> list[tuple[int, float]]:
    """Reorder the first ``k`` of ``ranking`` (``(key, score)``, best first) by MMR.

    Args:
        ranking: candidates with their relevance scores, best first.
        vectors: unit vectors of the candidates, one row per ranking entry, in the same order.
        k: how many to select; the rest follow in their original order.
        diversity: 0 keeps the ranking as it is; 1 ignores relevance after the first pick.

    Example:
        >>> v = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
        >>> [key for key, _ in mmr([(1, 0.9), (2, 0.8), (3, 0.5)], v, k=2, diversity=0.5)]
        [1, 3, 2]
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be within 0..1, not {diversity}")
    if diversity == 0.0 or len(ranking) <= 1:
        return list(ranking)
    relevance = normalize_min_max(np.array([s for _, s in ranking], dtype=np.float64))
    similarity = (vectors @ vectors.T).astype(np.float64)
    chosen: list[int] = []
    closest = np.full(len(ranking), -np.inf)  # max similarity to anything chosen so far
    left = np.ones(len(ranking), dtype=bool)
    for _ in range(min(k, len(ranking))):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        gain = (1.0 - diversity) * relevance - diversity * redundancy
        gain[~left] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        left[pick] = False
        closest = np.maximum(closest, similarity[pick])
    rest = [i for i in range(len(ranking)) if left[i]]
    return [ranking[i] for i in chosen + rest]
