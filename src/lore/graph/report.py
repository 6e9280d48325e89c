"""Communities described for people (``lore graph communities``) and for the global search:
their size, and the concepts at their centre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lore.graph.model import Graph


@dataclass(frozen=True, slots=True)
class CommunitySummary:
    id: int
    level: int
    parent: int | None
    concepts: int
    chunks: int
    """Chunks placed in it or below it."""
    children: int
    central: tuple[str, ...]
    """Its concepts with the most link weight inside it, first the most."""


def summarise(graph: Graph, names: list[str], community: int, central: int = 8
              ) -> CommunitySummary:
    communities = graph.communities
    nodes = communities.nodes(community)
    inside = np.asarray(graph.adjacency[nodes][:, nodes].sum(axis=1)).ravel()
    order = nodes[np.lexsort((-graph.mentions[nodes], -inside))][:central]
    up = int(communities.parent[community])
    return CommunitySummary(
        id=community, level=int(communities.level[community]), parent=up if up >= 0 else None,
        concepts=len(nodes), chunks=len(communities.chunk_rows(community)),
        children=len(communities.children(community)),
        central=tuple(names[int(graph.concepts[node])] for node in order))


def summaries(graph: Graph, names: list[str], level: int = 0, central: int = 8
              ) -> list[CommunitySummary]:
    """The communities of one level, the largest (in chunks) first."""
    found = [summarise(graph, names, int(community), central)
             for community in graph.communities.at_level(level)]
    return sorted(found, key=lambda summary: (-summary.chunks, summary.id))
