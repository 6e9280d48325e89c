"""LazyGraphRAG's search over communities: rank order, the test budget, and going down into
the sub-communities of the ones that hold relevant chunks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lore.graph.build import GraphSettings
from lore.graph.model import Graph
from lore.query.community_search import CommunitySearch

from .test_build import build


def four_topics() -> Graph:
    """Four topics of eight chunks (rowids 100-131), bridged in a chain so that the top level
    holds two halves, each split into its two topics a level down."""
    chunks = []
    for topic in range(4):
        words = [f"topic{topic} {n}" for n in range(8)]
        chunks += [[words[n], words[(n + 1) % 8], words[(n + 2) % 8]] for n in range(8)]
    for n in range(3):
        chunks += [[f"topic0 {n}", f"topic1 {n}"], [f"topic2 {n}", f"topic3 {n}"],
                   [f"topic1 {n + 4}", f"topic2 {n + 4}"]]
    graph, _ = build(chunks, GraphSettings(resolution=0.1, max_community=10))
    assert graph.communities.levels == 2
    return graph


def topic_of(rowid: int) -> int:
    return (rowid - 100) // 8 if rowid < 132 else -1


class Judge:
    """Relevant: the chunks of ``topics``; records every chunk it was asked about."""

    def __init__(self, *topics: int) -> None:
        self.topics = set(topics)
        self.asked: list[int] = []

    def __call__(self, rowids: Sequence[int]) -> np.ndarray:
        self.asked.extend(rowids)
        return np.array([1.0 if topic_of(r) in self.topics else -1.0 for r in rowids])


def test_the_best_ranked_community_is_tested_first() -> None:
    graph = four_topics()
    judge = Judge(3)
    ranks = {124: 1, 125: 2}  # two chunks of topic 3 rank first
    found, trace = CommunitySearch(graph, ranks, judge, budget=10, per_visit=2,
                                   misses=3).run()
    assert judge.asked[:2] == [124, 125]
    assert found and {topic_of(item.rowid) for item in found} == {3}
    assert trace.tests == len(judge.asked) <= 10


def test_the_search_goes_down_where_relevant_chunks_were_found() -> None:
    graph = four_topics()
    judge = Judge(0)
    found, trace = CommunitySearch(graph, {100: 1}, judge, budget=40, per_visit=2,
                                   misses=1).run()
    assert trace.depth == 2
    # Everything relevant is found before the budget is spent on the other topics.
    assert {item.rowid for item in found} >= set(range(100, 108))
    assert {topic_of(item.rowid) for item in found} == {0}


def test_the_budget_bounds_the_tests() -> None:
    graph = four_topics()
    everything = Judge(0, 1, 2, 3)
    for budget in (0, 1, 5, 17):
        found, trace = CommunitySearch(graph, {}, everything, budget=budget, per_visit=2,
                                       misses=3).run()
        assert trace.tests == len(found) == min(budget, len(graph.chunk_keys))


def test_nothing_relevant_stops_after_the_misses() -> None:
    graph = four_topics()
    nothing = Judge()
    found, trace = CommunitySearch(graph, {}, nothing, budget=100, per_visit=1,
                                   misses=2).run()
    assert found == [] and trace.tests == 2 and trace.depth == 1
