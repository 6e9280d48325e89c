"""Retrieval metrics as pure functions: each returns the mean and the per-query scores.

Inputs follow BEIR: ``run[qid]`` is the ranked list of document ids a system returned, best
first; ``qrels[qid]`` maps relevant document ids to their graded relevance (> 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class MetricResult:
    mean: float
    per_query: Mapping[str, float]


def ndcg_at_k(run: Run, qrels: Qrels, k: int = 10) -> MetricResult:
    """nDCG@k with linear gains (the trec_eval ``ndcg_cut`` definition BEIR reports)."""
    def score(ranked: Sequence[str], relevant: Mapping[str, int]) -> float:
        gains = [relevant.get(doc, 0) for doc in ranked[:k]]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        return dcg / idcg if idcg else 0.0
    return _average(run, qrels, score)


def recall_at_k(run: Run, qrels: Qrels, k: int = 10) -> MetricResult:
    def score(ranked: Sequence[str], relevant: Mapping[str, int]) -> float:
        wanted = {d for d, g in relevant.items() if g > 0}
        return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0
    return _average(run, qrels, score)


def mrr_at_k(run: Run, qrels: Qrels, k: int = 10) -> MetricResult:
    def score(ranked: Sequence[str], relevant: Mapping[str, int]) -> float:
        for i, doc in enumerate(ranked[:k]):
            if relevant.get(doc, 0) > 0:
                return 1.0 / (i + 1)
        return 0.0
    return _average(run, qrels, score)


def _average(run: Run, qrels: Qrels,
             score: Callable[[Sequence[str], Mapping[str, int]], float]) -> MetricResult:
    per_query = {qid: score(run.get(qid, ()), relevant)
                 for qid, relevant in qrels.items()}
    mean = sum(per_query.values()) / len(per_query) if per_query else 0.0
    return MetricResult(mean, per_query)
