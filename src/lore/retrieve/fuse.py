"""Fusing ranked lists from several retrievers into one. Pure functions over ``(key, score)``.

Each takes the rankings best-first and returns ``(key, fused score)`` best-first. Keys missing
from a ranking simply get nothing from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lore.config import Fusion
from lore.retrieve.protocol import RankedList, Ranking


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
"""Lexical weight in adaptive fusion when most candidates are code: a natural-language
question matches identifiers poorly next to the embedder reading the code's description.
Picked on CoSQA, in the middle of the range that beats dense alone; ``python
benchmarks/fusion.py`` measures it (docs/retrieval.md)."""


def fuse(lists: Sequence[RankedList], method: Fusion, *, readable: Sequence[bool] | None = None,
         code_share: float = 0.0, lexical_weight: float = 0.5, rrf_k: int = 60,
         prose_lexical_weight: float | None = None, graph_weight: float | None = None,
         graph_anchor: int = 0) -> Ranking:
    """One ranking from any number of retrievers' lists, by ``method``.

    Args:
        lists: each retriever's ranked list, in a fixed retriever order.
        method: ``adaptive`` (``fuse_adaptive``), ``weighted`` (``fuse_weighted`` with
            ``lexical_weight`` for the lexical list and the rest shared equally) or ``rrf``.
        readable: per list, whether its retriever can read the query (adaptive only).
        code_share: share of the candidate chunks that are code (adaptive only).
        prose_lexical_weight: the lexical weight over prose (adaptive only; None: equal).
        graph_weight: the graph list's share (adaptive and weighted; None: as any other).
        graph_anchor: the first hits of the other lists fused without the graph that keep
            their places (``anchored``); 0 lets the graph reorder every hit.
    """
    readable = list(readable or [True] * len(lists))
    fused = _fuse(lists, method, readable, code_share, lexical_weight, rrf_k,
                  prose_lexical_weight, graph_weight)
    others = [at for at, ranked in enumerate(lists) if ranked.retriever != "graph"]
    if graph_anchor <= 0 or len(others) in (0, len(lists)):
        return fused
    without = _fuse([lists[at] for at in others], method, [readable[at] for at in others],
                    code_share, lexical_weight, rrf_k, prose_lexical_weight, None)
    return anchored(without, fused, graph_anchor)


def anchored(head_from: Ranking, fused: Ranking, size: int) -> Ranking:
    """``fused`` with the first ``size`` keys of ``head_from`` moved to its top, in their
    order there. An anchored key scores at least what every key below it scores, so the
    scores still fall down the ranking.

    The graph's walk is seeded by the first hits of lexical search: it finds what lies one
    link away from them, the second paragraph of a two-hop question, but it should not
    outrank them. Where the answer is one passage, its neighbours in the same article pushed
    it from first place (docs/graph.md).
    """
    head = [key for key, _ in head_from[:size]]
    kept = set(head)
    scores = dict(fused)
    rest = [(key, score) for key, score in fused if key not in kept]
    floor = rest[0][1] if rest else float("-inf")
    lifted: list[tuple[int, float]] = []
    for key in reversed(head):
        floor = max(scores.get(key, floor), floor)
        lifted.append((key, floor))
    return lifted[::-1] + rest


def _fuse(lists: Sequence[RankedList], method: Fusion, readable: Sequence[bool],
          code_share: float, lexical_weight: float, rrf_k: int,
          prose_lexical_weight: float | None, graph_weight: float | None) -> Ranking:
    names = [ranked.retriever for ranked in lists]
    rankings = [ranked.ranking for ranked in lists]
    if method == "rrf":
        return fuse_rrf(rankings, k=rrf_k)
    if method == "weighted":
        return fuse_weighted(rankings, with_graph_share(
            names, shared_weights(names, "lexical", lexical_weight), graph_weight))
    return fuse_adaptive(lists, readable, code_share, prose_lexical_weight, graph_weight)


def fuse_adaptive(lists: Sequence[RankedList], readable: Sequence[bool], code_share: float,
                  prose_lexical_weight: float | None = None, graph_weight: float | None = None
                  ) -> Ranking:
    """Weighted z-score fusion whose weights follow what is known about the query.

    - Scores are standardised per list (z-scores), not min-max scaled: a list whose top hit
      stands far above the rest then counts for more than a flat one.
    - A retriever that cannot read the query (Chinese into an English embedder) gives noise:
      the others decide alone, and one list left is returned as it is.
    - When most candidates are code, the lexical list's weight drops to
      ``CODE_LEXICAL_WEIGHT``; otherwise every list weighs the same, unless the knowledge
      base fitted a ``prose_lexical_weight`` (``lore.retrieve.tuning``).
    - A complete list (``RankedList.complete``) standardises the chunks it lacks as scoring 0:
      an identifier that one chunk holds then ranks that chunk first, instead of scoring 0 as
      the only member of its list.
    - The graph list, when fused, takes ``graph_weight`` of the weights (``with_graph_share``).

    ``python benchmarks/fusion.py`` compares it with the other methods (docs/retrieval.md).
    """
    kept = [ranked for ranked, ok in zip(lists, readable, strict=True) if ok]
    if len(kept) < len(lists):
        kept = [r for r in kept if r.ranking] or [r for r in lists if r.ranking]
        if len(kept) <= 1:
            return list(kept[0].ranking) if kept else []
    names = [ranked.retriever for ranked in kept]
    lexical = CODE_LEXICAL_WEIGHT if code_share >= 0.5 else prose_lexical_weight
    absent = [0.0 if ranked.complete else None for ranked in kept]
    weights = with_graph_share(names, shared_weights(names, "lexical", lexical), graph_weight)
    return fuse_zscore([r.ranking for r in kept], weights, absent)


def shared_weights(names: Sequence[str], favoured: str, weight: float | None
                   ) -> list[float]:
    """Weights summing to 1: ``weight`` for ``favoured`` when it is present and another list
    is too, the rest shared equally; equal weights when ``weight`` is None."""
    if weight is None or favoured not in names or len(names) == 1:
        return [1.0 / len(names)] * len(names) if names else []
    rest = (1.0 - weight) / (len(names) - 1)
    return [weight if name == favoured else rest for name in names]


def with_graph_share(names: Sequence[str], weights: Sequence[float], share: float | None
                     ) -> list[float]:
    """``weights`` with the graph list's set to ``share`` and the others scaled to fill the
    rest in their own proportions; unchanged when ``share`` is None or no other list is
    fused with the graph."""
    if share is None or "graph" not in names or len(names) == 1:
        return list(weights)
    others = sum(w for name, w in zip(names, weights, strict=True) if name != "graph")
    return [share if name == "graph" else (1.0 - share) * w / others
            for name, w in zip(names, weights, strict=True)]
