"""The concept graph and its communities as values: what ``build`` makes, the store saves
beside the concept index, and the global search and ``lore graph`` read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sparse

_ARRAYS = "graph.npz"
_FACTS = "graph.json"


class Incidence(Protocol):
    """Chunks x concepts, binary, read a block of chunk rows at a time: a ``csr_matrix``, or
    rows kept in another layout (``lore.store.concepts``) that build each block's matrix only
    when it is read, so the whole matrix is never held."""

    @property
    def shape(self) -> tuple[int, int]: ...

    def __getitem__(self, rows: slice) -> Any:
        """The rows ``rows`` (a step-less slice) as a ``csr_matrix``."""


@dataclass(frozen=True)
class Communities:
    """A tree of concept communities. Community ids run level by level (the top level first);
    each node (a position in ``Graph.concepts``) sits in one leaf, and each chunk in the leaf
    holding most of its concepts (-1 when it mentions none of the graph's)."""

    parent: np.ndarray
    """Each community's parent, -1 at the top level."""
    level: np.ndarray
    node_leaf: np.ndarray
    chunk_leaf: np.ndarray
    modularity: float
    """Of the top level's partition: 0 for none, towards 1 for well-separated groups."""
    _children: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.parent)

    @property
    def levels(self) -> int:
        return int(self.level.max()) + 1 if len(self.level) else 0

    def at_level(self, level: int) -> np.ndarray:
        return np.flatnonzero(self.level == level)

    def children(self, community: int) -> list[int]:
        if not self._children and len(self.parent):
            for child, up in enumerate(self.parent.tolist()):
                self._children.setdefault(up, []).append(child)
        return self._children.get(community, [])

    def within(self, community: int) -> np.ndarray:
        """The community and every community below it."""
        found, frontier = [community], [community]
        while frontier:
            frontier = [child for up in frontier for child in self.children(up)]
            found.extend(frontier)
        return np.asarray(found, dtype=np.int64)

    def nodes(self, community: int) -> np.ndarray:
        return np.flatnonzero(np.isin(self.node_leaf, self.within(community)))

    def chunk_rows(self, community: int) -> np.ndarray:
        """Positions in ``Graph.chunk_keys`` of the chunks placed in this community."""
        return np.flatnonzero(np.isin(self.chunk_leaf, self.within(community)))


@dataclass(frozen=True)
class Graph:
    """Concepts (ids of the concept index, in name order) linked by weighted co-occurrence."""

    concepts: np.ndarray
    adjacency: sparse.csr_matrix
    """Symmetric link weights between node positions."""
    mentions: np.ndarray
    """How many chunks mention each node."""
    chunk_keys: np.ndarray
    """The chunk rowids ``communities.chunk_leaf`` speaks of."""
    communities: Communities
    seconds: float
    """Time to build it (pruning, weighting and communities)."""
    settings: str = ""
    """A digest of the settings it was built with: a copy saved with others is rebuilt."""
    links_dropped: int = 0
    """Links heavy enough to keep that the graph's cap on links dropped, the weakest."""
    _nodes: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def edges(self) -> int:
        return int(self.adjacency.nnz // 2)

    def node_of(self, concept: int) -> int | None:
        """The node position of a concept id, None when the graph left it out."""
        if not self._nodes and len(self.concepts):
            self._nodes.update((int(c), node) for node, c in enumerate(self.concepts.tolist()))
        return self._nodes.get(int(concept))

    def top_of(self, node: int) -> int:
        """The top-level community holding a node."""
        community = int(self.communities.node_leaf[node])
        while community >= 0 and self.communities.parent[community] >= 0:
            community = int(self.communities.parent[community])
        return community

    def facts(self) -> dict[str, float | int]:
        """Sizes and timing, for ``lore status`` and ``lore graph stats``."""
        placed = int((self.communities.chunk_leaf >= 0).sum())
        return {"nodes": len(self.concepts), "edges": self.edges,
                "communities": len(self.communities), "levels": self.communities.levels,
                "top_communities": len(self.communities.at_level(0)),
                "modularity": round(self.communities.modularity, 4),
                "chunks": len(self.chunk_keys), "chunks_placed": placed,
                "links_dropped": self.links_dropped, "seconds": round(self.seconds, 3)}

    def save(self, directory: Path) -> None:
        adjacency = self.adjacency.tocsr()
        c = self.communities
        np.savez(directory / _ARRAYS, concepts=self.concepts, indptr=adjacency.indptr,
                 indices=adjacency.indices, weights=adjacency.data, mentions=self.mentions,
                 chunk_keys=self.chunk_keys, parent=c.parent, level=c.level,
                 node_leaf=c.node_leaf, chunk_leaf=c.chunk_leaf)
        (directory / _FACTS).write_text(json.dumps({**self.facts(), "settings": self.settings,
                                                    "modularity_exact": c.modularity}))

    @classmethod
    def load(cls, directory: Path, settings: str) -> Graph | None:
        """The saved graph, or None when this copy has none (saved before graphs were) or
        was built with other settings than ``settings`` (a digest)."""
        if not (directory / _ARRAYS).exists():
            return None
        facts = json.loads((directory / _FACTS).read_text())
        if facts.get("settings") != settings:
            return None
        with np.load(directory / _ARRAYS) as saved:
            arrays = {name: saved[name] for name in saved.files}
        nodes = len(arrays["concepts"])
        adjacency = sparse.csr_matrix(
            (arrays["weights"], arrays["indices"], arrays["indptr"]), shape=(nodes, nodes))
        communities = Communities(parent=arrays["parent"], level=arrays["level"],
                                  node_leaf=arrays["node_leaf"], chunk_leaf=arrays["chunk_leaf"],
                                  modularity=float(facts["modularity_exact"]))
        return cls(concepts=arrays["concepts"], adjacency=adjacency, mentions=arrays["mentions"],
                   chunk_keys=arrays["chunk_keys"], communities=communities,
                   seconds=float(facts["seconds"]), settings=settings,
                   links_dropped=int(facts.get("links_dropped", 0)))


def saved_facts(directory: Path) -> dict[str, float | int] | None:
    """The sizes a saved graph recorded, without loading it."""
    try:
        facts: dict[str, float | int] = json.loads((directory / _FACTS).read_text())
    except (OSError, ValueError):
        return None
    facts.pop("modularity_exact", None)
    facts.pop("settings", None)
    return facts
