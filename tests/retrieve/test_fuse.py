import numpy as np
import pytest

from lore.retrieve.fuse import fuse_rrf, fuse_weighted, normalize_min_max


def test_rrf_matches_the_formula() -> None:
    lexical = [(1, 9.0), (2, 5.0), (3, 1.0)]
    dense = [(3, 0.9), (1, 0.8)]
    fused = dict(fuse_rrf([lexical, dense], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_best_first_and_breaks_ties_by_key() -> None:
    fused = fuse_rrf([[(5, 1.0)], [(4, 1.0)]], k=60)
    assert [key for key, _ in fused] == [4, 5]


def test_weighted_fusion_normalises_each_side() -> None:
    lexical = [(1, 30.0), (2, 20.0), (3, 10.0)]
    dense = [(3, 0.9), (2, 0.5)]
    fused = dict(fuse_weighted([lexical, dense], [0.5, 0.5]))
    assert fused[1] == pytest.approx(0.5 * 1.0)
    assert fused[2] == pytest.approx(0.5 * 0.5 + 0.5 * 0.0)
    assert fused[3] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)


def test_weighted_fusion_with_an_empty_side_keeps_the_other_order() -> None:
    lexical = [(7, 3.0), (8, 2.0)]
    assert [k for k, _ in fuse_weighted([lexical, []], [0.5, 0.5])] == [7, 8]


def test_min_max_of_constant_scores_is_all_ones() -> None:
    assert normalize_min_max(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]
    assert normalize_min_max(np.array([])).size == 0
