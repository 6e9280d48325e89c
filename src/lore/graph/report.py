"""Communities described for people (``lore graph communities``) and for the global search:
their size, and the concepts at their centre."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

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


@dataclass(frozen=True, slots=True)
class ConceptNode:
    name: str
    community: int
    """Its top-level community."""
    mentions: int
    named: bool
    """Named by one of the chunks the neighbourhood was drawn around."""


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """Concepts around some chunks, and the links between them, for drawing."""

    nodes: tuple[ConceptNode, ...]
    edges: tuple[tuple[int, int, float], ...]
    """(node, node, weight), positions in ``nodes``."""
    communities: dict[int, tuple[str, ...]]
    """Each shown community's central concepts."""


def neighbourhood(graph: Graph, names: list[str], concepts: Sequence[int], limit: int
                  ) -> Neighbourhood:
    """The graph's nodes among ``concepts`` (ids), then their most strongly linked
    neighbours, ``limit`` nodes in all."""
    seeds = list(dict.fromkeys(node for node in (graph.node_of(c) for c in concepts)
                               if node is not None))[:limit]
    pull: dict[int, float] = {}
    for seed in seeds:
        row = graph.adjacency.getrow(seed)
        for node, weight in zip(row.indices.tolist(), row.data.tolist(), strict=True):
            if node not in seeds:
                pull[node] = pull.get(node, 0.0) + weight
    extra = sorted(pull, key=lambda node: (-pull[node], node))[:max(0, limit - len(seeds))]
    chosen = [*seeds, *extra]
    inside = sparse.triu(graph.adjacency[chosen][:, chosen]).tocoo()
    nodes = tuple(ConceptNode(names[int(graph.concepts[node])], graph.top_of(node),
                              int(graph.mentions[node]), node in seeds) for node in chosen)
    shown = sorted({node.community for node in nodes if node.community >= 0})
    return Neighbourhood(
        nodes=nodes,
        edges=tuple(zip(inside.row.tolist(), inside.col.tolist(), inside.data.tolist(),
                        strict=True)),
        communities={c: summarise(graph, names, c, central=5).central for c in shown})
