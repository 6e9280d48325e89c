"""The concept graph in formats other tools open: GraphML (Gephi, yEd, Cytoscape, networkx's
``read_graphml``) and JSON in networkx's node-link layout (``node_link_graph``).

Each node is a concept with its name, how many chunks mention it, and its community at every
level (``community_0`` the top); each edge carries its weight. The knowledge graph's nodes
also carry their ``type``, and its edges the ``relations`` stated between their ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import quoteattr

import numpy as np
import scipy.sparse as sparse

from lore.graph.model import Graph

ExportFormat = Literal["graphml", "json"]
FORMATS: tuple[ExportFormat, ...] = ("graphml", "json")


@dataclass(frozen=True)
class _Labels:
    """What the knowledge graph adds: a type per name, relations per pair of name ids."""

    types: Sequence[str] = ()
    relations: Mapping[tuple[int, int], Sequence[str]] | None = None

    def of_node(self, name: int) -> dict[str, str]:
        return {"type": self.types[name]} if self.types else {}

    def of_edge(self, graph: Graph, source: int, target: int) -> dict[str, str]:
        if self.relations is None:
            return {}
        a, b = int(graph.concepts[source]), int(graph.concepts[target])
        return {"relations": "; ".join(self.relations.get((min(a, b), max(a, b)), ()))}


def export_graph(graph: Graph, names: list[str], path: Path, form: ExportFormat,
                 types: Sequence[str] = (),
                 relations: Mapping[tuple[int, int], Sequence[str]] | None = None) -> None:
    """Write the graph to ``path`` (replaced when it exists); ``types`` (by name id) and
    ``relations`` (by pair of name ids, the lower first) label a knowledge graph."""
    labels = _Labels(types, relations)
    text = _graphml(graph, names, labels) if form == "graphml" \
        else _node_link(graph, names, labels)
    path.write_text(text, encoding="utf-8")


def community_paths(graph: Graph) -> np.ndarray:
    """Nodes x levels: each node's community at each level, -1 below its leaf."""
    communities = graph.communities
    paths = np.full((len(graph.concepts), max(1, communities.levels)), -1, dtype=np.int64)
    for node, leaf in enumerate(communities.node_leaf.tolist()):
        community = int(leaf)
        while community >= 0:
            paths[node, int(communities.level[community])] = community
            community = int(communities.parent[community])
    return paths


def _edges(graph: Graph) -> Iterator[tuple[int, int, float]]:
    upper = sparse.triu(graph.adjacency).tocoo()
    yield from zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist(), strict=True)


def _graphml(graph: Graph, names: list[str], labels: _Labels) -> str:
    paths = community_paths(graph)
    levels = paths.shape[1]
    keys = ['<key id="name" for="node" attr.name="name" attr.type="string"/>',
            '<key id="mentions" for="node" attr.name="mentions" attr.type="int"/>',
            *(f'<key id="community_{level}" for="node" attr.name="community_{level}" '
              'attr.type="int"/>' for level in range(levels)),
            '<key id="weight" for="edge" attr.name="weight" attr.type="double"/>']
    if labels.types:
        keys.append('<key id="type" for="node" attr.name="type" attr.type="string"/>')
    if labels.relations is not None:
        keys.append('<key id="relations" for="edge" attr.name="relations" '
                    'attr.type="string"/>')
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">', *keys,
             '<graph id="concepts" edgedefault="undirected">']
    for node, concept in enumerate(graph.concepts.tolist()):
        data = [f'<data key="name">{_text(names[concept])}</data>',
                f'<data key="mentions">{int(graph.mentions[node])}</data>',
                *(f'<data key="community_{level}">{int(paths[node, level])}</data>'
                  for level in range(levels) if paths[node, level] >= 0),
                *(f'<data key="{key}">{_text(value)}</data>'
                  for key, value in labels.of_node(concept).items())]
        lines.append(f'<node id="n{node}">{"".join(data)}</node>')
    for source, target, weight in _edges(graph):
        extra = "".join(f'<data key="{key}">{_text(value)}</data>'
                        for key, value in labels.of_edge(graph, source, target).items())
        lines.append(f'<edge source="n{source}" target="n{target}">'
                     f'<data key="weight">{weight:g}</data>{extra}</edge>')
    lines += ["</graph>", "</graphml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return quoteattr(value)[1:-1]


def _node_link(graph: Graph, names: list[str], labels: _Labels) -> str:
    paths = community_paths(graph)
    nodes = [{"id": node, "name": names[concept], "mentions": int(graph.mentions[node]),
              **{f"community_{level}": int(paths[node, level])
                 for level in range(paths.shape[1]) if paths[node, level] >= 0},
              **labels.of_node(concept)}
             for node, concept in enumerate(graph.concepts.tolist())]
    edges = [{"source": source, "target": target, "weight": weight,
              **labels.of_edge(graph, source, target)}
             for source, target, weight in _edges(graph)]
    return json.dumps({"directed": False, "multigraph": False,
                       "graph": {"modularity": graph.communities.modularity},
                       "nodes": nodes, "edges": edges}, ensure_ascii=False)
