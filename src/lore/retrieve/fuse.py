"""Fusing ranked lists from several retrievers into one. Pure functions over ``(key, score)``.

Each takes the rankings best-first and returns ``(key, fused score)`` best-first. Keys missing
from a ranking simply get nothing from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lore.text.script import NON_LATIN_SHARE, non_latin_share

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


def normalize_z(scores: np.ndarray) -> np.ndarray:
    """Standard scores; a constant list becomes all zeros."""
    if scores.size == 0:
        return scores
    spread = float(scores.std())
    if spread < 1e-12:
        return np.zeros_like(scores)
    return (scores - float(scores.mean())) / spread


def fuse_zscore(rankings: Sequence[Ranking], weights: Sequence[float],
                absent: Sequence[float | None] | None = None) -> list[tuple[int, float]]:
    """Weighted sum of z-score normalised scores.

    A key a ranking missed gets, when ``absent`` gives that ranking a score, that raw score,
    standardised together with the ranking's own over every key: a ranking known to hold
    every key that scored above it (lexical search returning fewer hits than it was asked
    for: each other chunk holds no query term, BM25 0) then lifts a lone hit far above the
    rest, where standardising one score alone would give it 0. Otherwise a missed key gets the
    ranking's lowest standard score (it ranked below everything the ranking returned).
    """
    keys = list(dict.fromkeys(key for ranking in rankings for key, _ in ranking))
    fused = dict.fromkeys(keys, 0.0)
    for ranking, weight, missing in zip(rankings, weights, absent or [None] * len(rankings),
                                        strict=True):
        for key, value in _standard_scores(ranking, keys, missing).items():
            fused[key] += weight * value
    return _sorted(fused)


def _standard_scores(ranking: Ranking, keys: Sequence[int], missing: float | None
                     ) -> dict[int, float]:
    scores = dict(ranking)
    if missing is not None:
        column = np.array([scores.get(key, missing) for key in keys], dtype=np.float64)
        return dict(zip(keys, normalize_z(column).tolist(), strict=True))
    normalized = normalize_z(np.array([s for _, s in ranking], dtype=np.float64))
    floor = float(normalized.min()) if normalized.size else 0.0
    seen = dict(zip(scores, normalized.tolist(), strict=True))
    return {key: seen.get(key, floor) for key in keys}


CODE_LEXICAL_WEIGHT = 0.2
"""Lexical weight when most candidates are code (see ``fuse_adaptive``). CoSQA, the only code
set here, gave nDCG@10 0.606 for dense alone and, by lexical weight, 0.610 (0.1), 0.612
(0.15), 0.609 (0.2), 0.603 (0.25), 0.601 (0.3) (``benchmarks/fusion.py``): a weight picked on
one set, kept in the middle of the range that beats dense alone."""
ENGLISH_ONLY_EMBEDDERS = frozenset({"minilm"})
"""Embedders that cannot read text outside the Latin script (their vectors for it are noise)."""


@dataclass(frozen=True)
class FusionSignals:
    """What is known about a query before its rankings are fused."""

    dense_reads_query: bool = True
    """False when the embedder cannot read the query's script (Chinese into MiniLM)."""
    code_share: float = 0.0
    """Share of the candidate chunks that are code."""
    lexical_complete: bool = False
    """The lexical ranking holds every chunk with a query term (it came back shorter than
    asked): every chunk it lacks scored 0."""


def query_signals(query: str, embedder: str, kinds: Sequence[str],
                  lexical_complete: bool = False) -> FusionSignals:
    share, _ = non_latin_share(query)
    reads = not (embedder in ENGLISH_ONLY_EMBEDDERS and share >= NON_LATIN_SHARE)
    code = sum(1 for kind in kinds if kind == "code") / len(kinds) if kinds else 0.0
    return FusionSignals(dense_reads_query=reads, code_share=code,
                         lexical_complete=lexical_complete)


def fuse_adaptive(lexical: Ranking, dense: Ranking, signals: FusionSignals
                  ) -> list[tuple[int, float]]:
    """Weighted z-score fusion whose weights follow what is known about the query.

    - Scores are standardised per list (z-scores), not min-max scaled: a list whose top hit
      stands far above the rest then counts for more than a flat one. Over the same candidate
      lists this beat 50/50 min-max fusion on every shared set measured
      (``benchmarks/fusion.py``).
    - When the embedder cannot read the query's script (Chinese into an English model), its
      ranking is noise: lexical alone decides.
    - When most candidates are code, lexical matching of a natural-language question against
      identifiers is weak next to the embedder reading the code's description, so the
      lexical weight drops to ``CODE_LEXICAL_WEIGHT``.
    - When the lexical ranking is complete, the chunks it lacks scored 0 and are standardised
      as such: an identifier or error code that one chunk holds then ranks that chunk first,
      instead of scoring 0 as the only member of its list.
    """
    if not signals.dense_reads_query:
        return list(lexical) or list(dense)
    weight = CODE_LEXICAL_WEIGHT if signals.code_share >= 0.5 else 0.5
    absent = [0.0 if signals.lexical_complete else None, None]
    return fuse_zscore([lexical, dense], [weight, 1.0 - weight], absent)
