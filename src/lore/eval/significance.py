"""Whether a difference between two systems measured on the same questions is more than
noise: the paired bootstrap (Efron and Tibshirani 1993; Koehn 2004 for MT).

Each system scores every question (F1 of its answer, say). The questions are resampled with
replacement and the mean difference recomputed each round; the middle 95% of those means is
the interval. Pairing matters: most questions get the same answer from both systems, and
their difference is 0 whatever the question's difficulty, so the interval is far narrower
than one drawn from each system's scores apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Difference:
    """Mean of ``b - a`` over the shared questions, with a bootstrap interval around it."""

    mean: float
    low: float
    high: float
    questions: int
    better: int
    """Questions on which ``b`` scored higher than ``a``."""
    worse: int

    def to_json(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high,
                "questions": self.questions, "better": self.better, "worse": self.worse}


def paired_difference(a: Mapping[str, float], b: Mapping[str, float], *,
                      rounds: int = 10_000, confidence: float = 0.95,
                      seed: int = 0) -> Difference:
    """``b`` against ``a`` on the questions both scored, with a ``confidence`` interval.

    Raises:
        ValueError: the two share no question, or ``confidence`` is not in (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must be in (0, 1), e.g. 0.95")
    shared = sorted(a.keys() & b.keys())
    if not shared:
        raise ValueError("the two systems scored no question in common: measure them on "
                         "the same questions")
    gaps = np.array([b[q] - a[q] for q in shared], dtype=np.float64)
    rng = np.random.default_rng(seed)
    # a few million draws at a time, however many questions there are
    per_block = max(1, 2**22 // len(gaps))
    means = np.concatenate([
        gaps[rng.integers(0, len(gaps), size=(min(per_block, rounds - done), len(gaps)))]
        .mean(axis=1) for done in range(0, rounds, per_block)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Difference(float(gaps.mean()), float(low), float(high), len(gaps),
                      int((gaps > 0).sum()), int((gaps < 0).sum()))
