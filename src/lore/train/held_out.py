"""Pairs held out of training, and the metrics a model scores on them before and after.

The split is by query, never by pair: a query with two positives is either all in training or
all held out, so no held-out query was seen. Each held-out query is scored against a fixed
pool, the same before and after training: its positives plus the passages lore's search found
for it (what a reranker reorders). nDCG@10, recall@10 and MRR@10 count the query's own positives
as relevant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lore.embed.protocol import Embedder
from lore.train.pairs import Pair

Rerank = Callable[[str, Sequence[str]], np.ndarray]
"""Scores of passages for a query (a cross-encoder's), higher is more relevant."""
VectorScore = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Scores of passage vectors (n, d) for a query vector (d,): cosine, or a scoring head."""


@dataclass(frozen=True)
class Split:
    train: tuple[Pair, ...]
    held_out: tuple[Pair, ...]


def split_by_query(pairs: Sequence[Pair], share: float, seed: int) -> Split:
    """Hold out ``share`` of the queries (at least one when ``share`` > 0 and there are two or
    more queries), chosen at random with ``seed``."""
    queries = sorted({pair.query for pair in pairs})
    random.Random(seed).shuffle(queries)
    count = round(len(queries) * share)
    if share > 0 and len(queries) > 1:
        count = min(max(count, 1), len(queries) - 1)
    held = set(queries[:count])
    return Split(tuple(p for p in pairs if p.query not in held),
                 tuple(p for p in pairs if p.query in held))


@dataclass(frozen=True)
class Pool:
    """What each held-out query is ranked against."""

    queries: tuple[str, ...]
    passages: tuple[str, ...]
    relevant: Mapping[str, frozenset[int]]
    """Query -> indexes into ``passages`` of its positives."""
    candidates: Mapping[str, tuple[int, ...]]
    """Query -> indexes of the passages it is ranked over (its search results and its own
    positives)."""


def build_pool(held_out: Sequence[Pair], found: Mapping[str, Sequence[str]]) -> Pool:
    """The pool of ``held_out``, with ``found[query]`` the passages search found for it."""
    index: dict[str, int] = {}

    def number(text: str) -> int:
        return index.setdefault(text, len(index))

    relevant: dict[str, set[int]] = {}
    for pair in held_out:
        relevant.setdefault(pair.query, set()).add(number(pair.positive))
    candidates = {query: tuple(sorted(own | {number(t) for t in found.get(query, ())}))
                  for query, own in relevant.items()}
    return Pool(tuple(relevant), tuple(index), {q: frozenset(r) for q, r in relevant.items()},
                candidates)


def score_embedder(embedder: Embedder, pool: Pool) -> dict[str, float]:
    """The pool's metrics when ``embedder``'s cosine similarity ranks it."""
    queries = {query: embedder.embed_query(query) for query in pool.queries}
    return score_vectors(pool, queries, embedder.embed_documents(list(pool.passages)), cosine)


def cosine(query: np.ndarray, passages: np.ndarray) -> np.ndarray:
    scores: np.ndarray = passages @ query
    return scores


def score_vectors(pool: Pool, queries: Mapping[str, np.ndarray], passages: np.ndarray,
                  scorer: VectorScore) -> dict[str, float]:
    """The pool's metrics when ``scorer`` ranks each query's candidates from their vectors
    (``passages`` holds a row per pool passage)."""
    rankings = {}
    for query in pool.queries:
        ids = np.array(pool.candidates[query])
        scores = scorer(queries[query], passages[ids])
        rankings[query] = ids[np.argsort(-scores, kind="stable")].tolist()
    return ranking_metrics(rankings, pool.relevant)


def pool_scores(rerank: Rerank, pool: Pool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Query -> (its candidates' indexes, their scores by ``rerank``)."""
    scored = {}
    for query in pool.queries:
        ids = np.array(pool.candidates[query])
        scored[query] = (ids, rerank(query, [pool.passages[i] for i in ids]))
    return scored


def rankings(scored: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, list[int]]:
    return {query: ids[np.argsort(-scores, kind="stable")].tolist()
            for query, (ids, scores) in scored.items()}


def fit_threshold(scored: Mapping[str, tuple[np.ndarray, np.ndarray]],
                  relevant: Mapping[str, frozenset[int]]) -> dict[str, float]:
    """The score above which a candidate is taken as relevant, chosen for the best F1 over
    every held-out (query, candidate): a query's positives are relevant, the other passages
    search found for it are not (some may be, unlabelled, so precision is a floor). With its
    precision, recall and F1 there; empty without a positive and a negative.

    A reranker trained listwise orders passages but its scores carry no absolute meaning;
    a relevance test needs a cut, and this is where the held-out pairs put it."""
    labels = np.concatenate([np.isin(ids, list(relevant[query]))
                             for query, (ids, _) in scored.items()]) if scored else np.array([])
    if not labels.any() or labels.all():
        return {}
    scores = np.concatenate([values for _, values in scored.values()]).astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_labels = scores[order], labels[order]
    found = np.cumsum(ranked_labels)          # positives among the first i + 1
    precision = found / np.arange(1, len(order) + 1)
    recall = found / labels.sum()
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(precision), where=precision + recall > 0)
    # Cut only between distinct scores: ties fall on the same side.
    distinct = np.append(ranked_scores[1:] < ranked_scores[:-1], True)
    best = int(np.argmax(np.where(distinct, f1, -1.0)))
    below = ranked_scores[best + 1] if best + 1 < len(order) else ranked_scores[best] - 1.0
    return {"threshold": round(float(ranked_scores[best] + below) / 2, 6),
            "precision": round(float(precision[best]), 4),
            "recall": round(float(recall[best]), 4), "f1": round(float(f1[best]), 4)}


def ranking_metrics(rankings: Mapping[str, Sequence[int]],
                    relevant: Mapping[str, frozenset[int]], depth: int = 10
                    ) -> dict[str, float]:
    """Mean nDCG, recall and MRR at ``depth`` (binary relevance); none without rankings."""
    if not rankings:
        return {}
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0}
    for query, ranking in rankings.items():
        gold = relevant[query]
        top = list(ranking[:depth])
        gains = [1.0 / math.log2(rank + 2) for rank, i in enumerate(top) if i in gold]
        ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(gold), depth)))
        totals["ndcg@10"] += sum(gains) / ideal
        totals["recall@10"] += sum(i in gold for i in top) / len(gold)
        first = next((rank for rank, i in enumerate(top, start=1) if i in gold), None)
        totals["mrr@10"] += 1.0 / first if first else 0.0
    return {name: round(value / len(rankings), 4) for name, value in totals.items()}
