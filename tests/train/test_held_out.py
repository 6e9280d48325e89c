"""Held-out queries and the metrics a model scores on them."""

from __future__ import annotations

import numpy as np
import pytest

from lore.testing.fakes import HashEmbedder
from lore.train.held_out import (
    build_pool,
    fit_threshold,
    pool_scores,
    ranking_metrics,
    rankings,
    score_embedder,
    split_by_query,
)
from lore.train.pairs import Pair


def test_the_split_keeps_each_query_whole_and_is_fixed_by_the_seed() -> None:
    pairs = [Pair(f"q{i % 10}", f"p{i}") for i in range(30)]
    split = split_by_query(pairs, 0.2, seed=3)
    held = {p.query for p in split.held_out}
    assert len(held) == 2 and not held & {p.query for p in split.train}
    assert len(split.train) + len(split.held_out) == 30
    assert split == split_by_query(pairs, 0.2, seed=3) != split_by_query(pairs, 0.2, seed=4)
    assert split_by_query(pairs, 0.0, seed=3).held_out == ()
    assert len({p.query for p in split_by_query(pairs[:2], 0.01, 0).held_out}) == 1


def test_metrics_of_known_rankings() -> None:
    relevant = {"a": frozenset({1}), "b": frozenset({2, 3})}
    metrics = ranking_metrics({"a": [1, 0], "b": [0, 2, 4]}, relevant)
    # a: first place; b: one of two relevant at rank 2.
    ndcg_b = (1 / 1.584962500721156) / (1 + 1 / 1.584962500721156)
    assert metrics["ndcg@10"] == pytest.approx((1 + ndcg_b) / 2, abs=1e-4)
    assert metrics["recall@10"] == 0.75 and metrics["mrr@10"] == 0.75
    assert ranking_metrics({}, {}) == {}


def test_the_pool_ranks_each_query_over_its_found_passages_and_its_positives() -> None:
    held = [Pair("cats purr", "cats purr when happy"), Pair("dogs bark", "dogs bark at night")]
    pool = build_pool(held, {"cats purr": ["a cat sleeps", "cats purr when happy"],
                             "dogs bark": ["a cat sleeps", "birds sing at dawn"]})
    assert len(pool.passages) == 4 and len(pool.candidates["cats purr"]) == 2
    assert len(pool.candidates["dogs bark"]) == 3
    embedder = HashEmbedder()
    assert score_embedder(embedder, pool)["mrr@10"] == 1.0
    backwards = ranking_metrics(rankings(pool_scores(
        lambda q, ps: -(embedder.embed_documents(ps) @ embedder.embed_query(q)), pool)),
        pool.relevant)
    assert backwards["mrr@10"] < 1.0


def test_the_relevance_threshold_is_cut_where_f1_is_best() -> None:
    """Ranked: 0.9 yes, 0.6 no, 0.5 yes, 0.4 no, 0.2 no. Cutting after the third gives
    precision 2/3 and recall 1 (F1 0.8), better than after the first (F1 0.67)."""
    scored = {"a": (np.array([0, 1, 2]), np.array([0.9, 0.4, 0.2])),
              "b": (np.array([3, 4]), np.array([0.6, 0.5]))}
    fitted = fit_threshold(scored, {"a": frozenset({0}), "b": frozenset({4})})
    assert fitted["threshold"] == pytest.approx(0.45)
    assert fitted["precision"] == pytest.approx(0.6667) and fitted["recall"] == 1.0
    assert fitted["f1"] == pytest.approx(0.8)


def test_tied_scores_fall_on_the_same_side_of_the_threshold() -> None:
    scored = {"a": (np.array([0, 1, 2]), np.array([0.7, 0.7, 0.1]))}
    fitted = fit_threshold(scored, {"a": frozenset({0})})
    assert fitted["threshold"] == pytest.approx(0.4)
    assert fitted["precision"] == 0.5 and fitted["recall"] == 1.0


def test_no_threshold_without_both_kinds_of_candidate() -> None:
    only_positives = {"a": (np.array([0]), np.array([0.3]))}
    assert fit_threshold(only_positives, {"a": frozenset({0})}) == {}
    assert fit_threshold({"a": (np.array([1]), np.array([0.3]))}, {"a": frozenset({0})}) == {}
    assert fit_threshold({}, {}) == {}
