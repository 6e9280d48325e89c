"""LazyGraphRAG's relevance search over the concept graph's communities (Edge et al.,
Microsoft Research 2024): rank communities by how well their chunks match the question, test
their best untested chunks for relevance in rank order (breadth first), and where a level
stops paying (``misses`` communities in a row with nothing relevant), go down into the
sub-communities of those that had something (depth first), until the test budget is spent or
no community is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lore.graph.model import Graph

RRF_K = 60
RANKED_CHUNKS = 3
"""A community scores by the reciprocal ranks of its best chunks, this many."""


@dataclass(frozen=True, slots=True)
class Found:
    """A chunk that passed the relevance test."""

    rowid: int
    top: int
    """Its top-level community: the theme it is grouped under."""
    margin: float
    """Its score above the test's threshold (0 when every chunk counts as relevant)."""


@dataclass
class Trace:
    tests: int = 0
    visits: int = 0
    """Community visits: each tests a few chunks of one community."""
    depth: int = 0
    """How deep the search went (1: the top level only)."""
    communities: list[int] = field(default_factory=list)
    """Communities that held a relevant chunk, in the order found."""


class CommunitySearch:
    """One question's search.

    >>> search = CommunitySearch(graph, ranks, test, budget=200, per_visit=2, misses=3)
    >>> found, trace = search.run()
    """

    def __init__(self, graph: Graph, ranks: dict[int, int],
                 test: Callable[[Sequence[int]], np.ndarray], budget: int, per_visit: int,
                 misses: int) -> None:
        self._graph = graph
        self._communities = graph.communities
        self._ranks = ranks
        self._test = test
        self._budget = budget
        self._per_visit = max(1, per_visit)
        self._misses = max(1, misses)
        self._tested: set[int] = set()
        self._order: dict[int, list[int]] = {}
        self.trace = Trace()

    def run(self) -> tuple[list[Found], Trace]:
        found: list[Found] = []
        frontier = self._ranked(self._communities.at_level(0).tolist())
        while frontier and self.trace.tests < self._budget:
            productive = self._sweep(frontier, found)
            if not productive:
                break
            deeper = [child for community in productive
                      for child in self._communities.children(community)
                      if self._untested(child)]
            frontier = self._ranked(deeper or [c for c in productive if self._untested(c)])
        return found, self.trace

    def _sweep(self, frontier: list[int], found: list[Found]) -> list[int]:
        """Visit communities in rank order; returns those that held a relevant chunk."""
        productive: list[int] = []
        misses = 0
        for community in frontier:
            room = self._budget - self.trace.tests
            if room <= 0:
                break
            batch = self._untested(community)[:min(self._per_visit, room)]
            if not batch:
                continue
            margins = self._test(batch)
            self._tested.update(batch)
            self.trace.tests += len(batch)
            self.trace.visits += 1
            self.trace.depth = max(self.trace.depth,
                                   int(self._communities.level[community]) + 1)
            relevant = [(rowid, float(margin)) for rowid, margin in zip(batch, margins,
                                                                        strict=True)
                        if margin >= 0]
            if not relevant:
                misses += 1
                if misses >= self._misses:
                    break
                continue
            misses = 0
            productive.append(community)
            if community not in self.trace.communities:
                self.trace.communities.append(community)
            top = self._top(community)
            found.extend(Found(rowid, top, margin) for rowid, margin in relevant)
        return productive

    def _ranked(self, communities: Sequence[int]) -> list[int]:
        """Best first: by the reciprocal ranks of each one's best chunks, then by size."""
        def score(community: int) -> tuple[float, int]:
            chunks = self._chunks(community)
            best = sorted(self._ranks.get(rowid, 1 << 30) for rowid in chunks)[:RANKED_CHUNKS]
            return (-sum(1.0 / (RRF_K + rank) for rank in best if rank < 1 << 30),
                    -len(chunks))
        return sorted(dict.fromkeys(communities), key=score)

    def _chunks(self, community: int) -> list[int]:
        """The community's chunk rowids, best-ranked first (unranked ones after, in order)."""
        if community not in self._order:
            rows = self._communities.chunk_rows(community)
            rowids = self._graph.chunk_keys[rows].tolist()
            self._order[community] = sorted(
                rowids, key=lambda rowid: self._ranks.get(rowid, 1 << 30))
        return self._order[community]

    def _untested(self, community: int) -> list[int]:
        return [rowid for rowid in self._chunks(community) if rowid not in self._tested]

    def _top(self, community: int) -> int:
        parent = self._communities.parent
        while parent[community] >= 0:
            community = int(parent[community])
        return community
