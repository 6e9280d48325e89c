"""Fitting a knowledge base's cheap retrieval parameters to its own pairs (``lore train
params``), before any network is trained.

BM25's k1 and b are chosen on a grid by lexical nDCG@10 over the fitting queries, then
whether a term the query repeats counts each time, then the lexical weight of adaptive fusion
by hybrid nDCG@10 with those. The result is kept only when it beats the knowledge base's
current parameters on queries held out of the fitting; otherwise nothing changes. A hit is
relevant when its chunk is (part of) one of the query's positives.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lore.learning import SilentTraining, TrainListener, located
from lore.retrieve.tuning import Tuning
from lore.train.held_out import ranking_metrics, split_by_query
from lore.train.negatives import overlaps
from lore.train.pairs import Pair, PairSet
from lore.types import SearchMode

if TYPE_CHECKING:
    from lore.api import KnowledgeBase

K1_GRID = (0.6, 0.9, 1.2, 1.5, 1.8)
B_GRID = (0.3, 0.5, 0.75, 0.9)
WEIGHT_GRID: tuple[float | None, ...] = (None, 0.3, 0.4, 0.6, 0.7)
"""Lexical weights in adaptive fusion (None: equal weights, the default)."""
MAX_QUERIES = 400
"""Fitting queries scored per grid point (a random sample beyond that, fixed by the seed)."""


@dataclass(frozen=True)
class FitReport:
    before: Tuning
    """What the knowledge base searched with."""
    fitted: Tuning
    kept: bool
    """The fitted parameters beat ``before`` on the held-out queries and are now recorded."""
    held_out: Mapping[str, Mapping[str, float]]
    """``{"before": metrics, "fitted": metrics}``: hybrid nDCG@10, recall@10, MRR@10."""
    queries: tuple[int, int]
    """(fitting queries, held-out queries)."""


def fit_tuning(kb: KnowledgeBase, pairs: PairSet, held_out: float = 0.2, seed: int = 0,
               skip_missing: bool = False, listener: TrainListener | None = None
               ) -> FitReport:
    """Fit k1, b, how repeated query terms count and the fusion weight on ``pairs``; keep
    them only when they beat the current ones on the held-out queries."""
    listener = listener or SilentTraining()
    split = split_by_query(located(kb, pairs, skip_missing, listener, {}),
                           max(held_out, 0.01), seed)
    fitting = _sample(_by_query(split.train), seed)
    held = _by_query(split.held_out)
    before = kb.tuning
    listener.stage("fitting BM25's k1 and b", len(K1_GRID) * len(B_GRID))
    grid = [Tuning(k1, b) for k1 in K1_GRID for b in B_GRID]
    lexical = _best(kb, grid, fitting, "lexical", listener)
    listener.stage("fitting how repeated query terms count", 2)
    lexical = _best(kb, [lexical, replace(lexical, query_repeats=True)], fitting, "lexical",
                    listener)
    listener.stage("fitting the fusion weight", len(WEIGHT_GRID))
    fitted = _best(kb, [replace(lexical, lexical_weight=w) for w in WEIGHT_GRID], fitting,
                   "hybrid", listener)
    listener.stage("comparing on the held-out queries")
    scores = {"before": _score(kb, before, held, "hybrid"),
              "fitted": _score(kb, fitted, held, "hybrid")}
    kept = scores["fitted"]["ndcg@10"] > scores["before"]["ndcg@10"]
    kb.tune(fitted if kept else before, save=kept)
    return FitReport(before, fitted, kept, scores, (len(fitting), len(held)))


def _by_query(pairs: Sequence[Pair]) -> dict[str, list[str]]:
    positives: dict[str, list[str]] = {}
    for pair in pairs:
        positives.setdefault(pair.query, []).append(pair.positive)
    return positives


def _sample(queries: dict[str, list[str]], seed: int) -> dict[str, list[str]]:
    if len(queries) <= MAX_QUERIES:
        return queries
    chosen = random.Random(seed).sample(sorted(queries), MAX_QUERIES)
    return {query: queries[query] for query in chosen}


def _best(kb: KnowledgeBase, candidates: Sequence[Tuning], queries: Mapping[str, list[str]],
          mode: SearchMode, listener: TrainListener) -> Tuning:
    """The candidate with the highest nDCG@10 (the first of equals: the grid's order)."""
    best, best_score = candidates[0], -1.0
    for done, candidate in enumerate(candidates, start=1):
        score = _score(kb, candidate, queries, mode)["ndcg@10"]
        if score > best_score:
            best, best_score = candidate, score
        listener.advance(done, f"best nDCG@10 {best_score:.4f}")
    return best


def _score(kb: KnowledgeBase, tuning: Tuning, queries: Mapping[str, list[str]],
           mode: SearchMode) -> dict[str, float]:
    """nDCG@10, recall@10 and MRR@10 of ``queries`` searched with ``tuning``."""
    kb.tune(tuning)
    rankings: dict[str, list[int]] = {}
    relevant = {}
    for query, positives in queries.items():
        hits = kb.search(query, k=10, mode=mode, rerank="")
        ranking: list[int] = []
        for number, hit in enumerate(hits):
            match = next((i for i, p in enumerate(positives) if overlaps(hit.chunk.text, p)),
                         None)
            ranking.append(match if match is not None else len(positives) + number)
        rankings[query] = list(dict.fromkeys(ranking))
        relevant[query] = frozenset(range(len(positives)))
    return ranking_metrics(rankings, relevant)
