"""Fusing ranked lists from several retrievers into one. Pure functions over ``(key, score)``.

Each takes the rankings best-first and returns ``(key, fused score)`` best-first. Keys missing
from a ranking simply get nothing from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Ranking = Sequence[tuple[int, float]]


def fuse_rrf(rankings: Sequence[Ranking], k: int = 60,
             weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score = sum of w / (k + rank).

    Cormack, Clarke and Buettcher, "Reciprocal Rank Fusion outperforms Condorcet and individual
    Rank Learning Methods", SIGIR 2009.
    """
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (key, _) in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return _sorted(fused)


def normalize_min_max(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant list becomes all ones (every hit equally good)."""
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def fuse_weighted(rankings: Sequence[Ranking], weights: Sequence[float]
                  ) -> list[tuple[int, float]]:
    """Convex combination of min-max normalised scores (CombSUM over normalised scores).

    Fox and Shaw, "Combination of Multiple Searches", TREC-2 1994; min-max normalisation as in
    Lee, "Analyses of Multiple Evidence Combination", SIGIR 1997.
    """
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        normalized = normalize_min_max(np.array([s for _, s in ranking], dtype=np.float64))
        for (key, _), value in zip(ranking, normalized, strict=True):
            fused[key] = fused.get(key, 0.0) + weight * float(value)
    return _sorted(fused)


def _sorted(fused: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
