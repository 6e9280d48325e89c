"""The concept graph in formats other tools open: GraphML (Gephi, yEd, Cytoscape, networkx's
``read_graphml``) and JSON in networkx's node-link layout (``node_link_graph``).

Each node is a concept with its name, how many chunks mention it, and its community at every
level (``community_0`` the top); each edge carries its weight.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import quoteattr

import numpy as np
import scipy.sparse as sparse

from lore.graph.model import Graph

ExportFormat = Literal["graphml", "json"]
FORMATS: tuple[ExportFormat, ...] = ("graphml", "json")


def export_graph(graph: Graph, names: list[str], path: Path, form: ExportFormat) -> None:
    """Write the graph to ``path`` (replaced when it exists)."""
    text = _graphml(graph, names) if form == "graphml" else _node_link(graph, names)
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


def _graphml(graph: Graph, names: list[str]) -> str:
    paths = community_paths(graph)
    levels = paths.shape[1]
    keys = ['<key id="name" for="node" attr.name="name" attr.type="string"/>',
            '<key id="mentions" for="node" attr.name="mentions" attr.type="int"/>',
            *(f'<key id="community_{level}" for="node" attr.name="community_{level}" '
              'attr.type="int"/>' for level in range(levels)),
            '<key id="weight" for="edge" attr.name="weight" attr.type="double"/>']
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">', *keys,
             '<graph id="concepts" edgedefault="undirected">']
    for node, concept in enumerate(graph.concepts.tolist()):
        data = [f'<data key="name">{_text(names[concept])}</data>',
                f'<data key="mentions">{int(graph.mentions[node])}</data>',
                *(f'<data key="community_{level}">{int(paths[node, level])}</data>'
                  for level in range(levels) if paths[node, level] >= 0)]
        lines.append(f'<node id="n{node}">{"".join(data)}</node>')
    for source, target, weight in _edges(graph):
        lines.append(f'<edge source="n{source}" target="n{target}">'
                     f'<data key="weight">{weight:g}</data></edge>')
    lines += ["</graph>", "</graphml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return quoteattr(value)[1:-1]


def _node_link(graph: Graph, names: list[str]) -> str:
    paths = community_paths(graph)
    nodes = [{"id": node, "name": names[concept], "mentions": int(graph.mentions[node]),
              **{f"community_{level}": int(paths[node, level])
                 for level in range(paths.shape[1]) if paths[node, level] >= 0}}
             for node, concept in enumerate(graph.concepts.tolist())]
    edges = [{"source": source, "target": target, "weight": weight}
             for source, target, weight in _edges(graph)]
    return json.dumps({"directed": False, "multigraph": False,
                       "graph": {"modularity": graph.communities.modularity},
                       "nodes": nodes, "edges": edges}, ensure_ascii=False)
