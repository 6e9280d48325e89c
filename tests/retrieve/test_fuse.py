import numpy as np
import pytest

from lore.retrieve.fuse import (
    CODE_LEXICAL_WEIGHT,
    anchored,
    fuse,
    fuse_adaptive,
    fuse_rrf,
    fuse_weighted,
    fuse_zscore,
    normalize_min_max,
    normalize_z,
    shared_weights,
    with_graph_share,
)
from lore.retrieve.protocol import RankedList, Ranking


def lists(lexical: Ranking, dense: Ranking, complete: bool = False) -> list[RankedList]:
    return [RankedList("lexical", lexical, complete), RankedList("dense", dense)]


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


def test_zscore_fusion_favours_the_list_whose_top_stands_out() -> None:
    peaked = [(1, 10.0), (2, 1.0), (3, 1.0), (4, 1.0)]
    flat = [(5, 0.52), (1, 0.51), (6, 0.50), (7, 0.50)]
    assert fuse_zscore([peaked, flat], [0.5, 0.5])[0][0] == 1
    assert fuse_zscore([flat, flat], [0.5, 0.5])[0][0] == 5


def test_zscore_gives_a_missed_key_the_lists_floor() -> None:
    lexical, dense = [(1, 3.0), (2, 2.0), (4, 1.0)], [(3, 0.9), (1, 0.8), (5, 0.1)]
    fused = dict(fuse_zscore([lexical, dense], [0.5, 0.5]))
    assert fused[2] < fused[1] and fused[3] < fused[1]
    assert normalize_z(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


def test_adaptive_fusion_ignores_a_retriever_that_cannot_read_the_query() -> None:
    lexical, dense = [(1, 9.0), (2, 3.0)], [(3, 0.9), (2, 0.8)]
    assert fuse_adaptive(lists(lexical, dense), [True, False], 0.0) == lexical
    # Nothing readable found anything: the unreadable list is better than none.
    assert fuse_adaptive(lists([], dense), [True, False], 0.0) == dense
    graph = RankedList("graph", [(2, 0.5), (4, 0.4)])
    three = fuse_adaptive([*lists(lexical, dense), graph], [True, False, True], 0.0)
    assert {key for key, _ in three} == {1, 2, 4}  # the two readable lists, fused


def test_adaptive_fusion_leans_on_dense_for_code() -> None:
    lexical = [(1, 9.0), (2, 8.0), (3, 1.0)]
    dense = [(2, 0.9), (1, 0.2), (3, 0.1)]
    prose = fuse_adaptive(lists(lexical, dense), [True, True], code_share=0.0)
    code = fuse_adaptive(lists(lexical, dense), [True, True], code_share=1.0)
    assert code[0][0] == 2
    assert dict(code)[2] - dict(code)[1] > dict(prose)[2] - dict(prose)[1]


def test_adaptive_fusion_of_two_lists_is_the_even_zscore_sum() -> None:
    lexical, dense = [(1, 9.0), (2, 3.0), (5, 1.0)], [(3, 0.9), (2, 0.8), (1, 0.1)]
    assert fuse_adaptive(lists(lexical, dense), [True, True], 0.0) == \
        fuse_zscore([lexical, dense], [0.5, 0.5], [None, None])
    assert fuse_adaptive(lists(lexical, dense), [True, True], 0.9) == \
        fuse_zscore([lexical, dense], [CODE_LEXICAL_WEIGHT, 1 - CODE_LEXICAL_WEIGHT],
                    [None, None])


def test_weights_are_shared_over_any_number_of_lists() -> None:
    assert shared_weights(["lexical", "dense"], "lexical", None) == [0.5, 0.5]
    assert shared_weights(["lexical", "dense", "graph"], "lexical", 0.4) == \
        pytest.approx([0.4, 0.3, 0.3])
    assert shared_weights(["dense", "graph"], "lexical", 0.4) == [0.5, 0.5]
    assert shared_weights(["lexical"], "lexical", 0.2) == [1.0]
    assert shared_weights([], "lexical", None) == []


def test_the_graph_takes_its_share_and_the_others_keep_their_proportions() -> None:
    names = ["lexical", "dense", "graph"]
    assert with_graph_share(names, [0.4, 0.3, 0.3], 0.2) == pytest.approx(
        [0.8 * 4 / 7, 0.8 * 3 / 7, 0.2])
    assert with_graph_share(names, [0.4, 0.3, 0.3], None) == [0.4, 0.3, 0.3]
    assert with_graph_share(["lexical", "dense"], [0.5, 0.5], 0.2) == [0.5, 0.5]
    assert with_graph_share(["graph"], [1.0], 0.2) == [1.0]
    ranked = [RankedList("lexical", [(1, 3.0), (2, 1.0)]), RankedList("dense", [(2, 0.9)]),
              RankedList("graph", [(3, 0.7), (1, 0.6)])]
    rankings = [r.ranking for r in ranked]
    assert fuse(ranked, "adaptive", graph_weight=0.1) == \
        fuse_zscore(rankings, [0.45, 0.45, 0.1], [None] * 3)
    assert fuse(ranked, "weighted", lexical_weight=0.5, graph_weight=0.5) == \
        fuse_weighted(rankings, [1 / 3, 1 / 6, 0.5])


def test_the_first_hits_without_the_graph_keep_their_places() -> None:
    """The graph's strong pull on chunk 9 lifts it above chunk 2, ranked second without the
    graph: with an anchor of 2 the two first hits stay, and chunk 9 comes third."""
    ranked = [RankedList("lexical", [(1, 3.0), (2, 2.0), (3, 1.9), (9, 1.8)]),
              RankedList("dense", [(1, 0.9), (2, 0.8), (3, 0.79), (9, 0.78)]),
              RankedList("graph", [(9, 10.0), (1, 9.0), (3, 1.0), (4, 1.0)])]
    free = [key for key, _ in fuse(ranked, "adaptive")]
    assert free.index(9) < free.index(2)
    held = fuse(ranked, "adaptive", graph_anchor=2)
    assert [key for key, _ in held][:3] == [1, 2, 9]
    scores = [score for _, score in held]
    assert scores == sorted(scores, reverse=True)
    assert fuse(ranked, "adaptive", graph_anchor=0) == fuse(ranked, "adaptive")
    without_graph = ranked[:2]
    assert fuse(without_graph, "adaptive", graph_anchor=2) == fuse(without_graph, "adaptive")


def test_an_anchored_key_scores_at_least_what_follows_it() -> None:
    fused = [(9, 1.0), (3, 0.8), (1, 0.5), (2, 0.1)]
    assert anchored([(2, 0.9), (1, 0.7)], fused, 2) == [(2, 1.0), (1, 1.0), (9, 1.0), (3, 0.8)]
    assert anchored([(1, 0.9)], fused, 5) == [(1, 1.0), (9, 1.0), (3, 0.8), (2, 0.1)]
    assert anchored([], fused, 3) == fused


def test_fuse_dispatches_each_method_over_n_lists() -> None:
    ranked = [RankedList("lexical", [(1, 3.0), (2, 1.0)]), RankedList("dense", [(2, 0.9)]),
              RankedList("graph", [(3, 0.7), (1, 0.6)])]
    rankings = [r.ranking for r in ranked]
    assert fuse(ranked, "rrf", rrf_k=10) == fuse_rrf(rankings, k=10)
    assert fuse(ranked, "weighted", lexical_weight=0.5) == \
        fuse_weighted(rankings, [0.5, 0.25, 0.25])
    assert fuse(ranked, "adaptive") == fuse_zscore(rankings, [1 / 3] * 3, [None] * 3)


def test_a_lone_lexical_hit_from_a_complete_list_comes_first() -> None:
    """One chunk holds the pasted identifier; the dense list is noise that misses it."""
    lexical = [(7, 3.2)]
    dense = [(key, 0.42 - key * 0.001) for key in range(20, 60)]
    assert fuse_adaptive(lists(lexical, dense, complete=True), [True, True], 0.0)[0][0] == 7
    # Standardised alone, the lone hit scores 0.
    assert fuse_adaptive(lists(lexical, dense), [True, True], 0.0)[0][0] != 7


def test_a_complete_list_standardises_its_absent_keys_as_zero() -> None:
    lexical, dense = [(1, 2.0), (2, 1.0)], [(3, 1.0), (4, 0.5)]
    fused = dict(fuse_zscore([lexical, dense], [1.0, 0.0], absent=[0.0, None]))
    assert fused[1] > fused[2] > 0 > fused[3] == fused[4]  # scores 2, 1, 0, 0 standardised
    floor = dict(fuse_zscore([lexical, dense], [1.0, 0.0]))
    assert floor[3] == floor[4] == floor[2] == -1.0  # without: the list's own floor
