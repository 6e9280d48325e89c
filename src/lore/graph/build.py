"""From chunk-concept incidence to the concept graph: two concepts are linked by the chunks
that mention both, weighted by how many (or by their pointwise mutual information); concepts
too rare or too common to tell anything apart are left out, and so are weak links, the
weakest of all once there are more than the graph's cap."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sparse

from lore.graph.communities import detect
from lore.graph.model import Graph, Incidence

Weighting = Literal["count", "pmi"]

BLOCK_CHUNKS = 65_536
"""Chunks whose concept pairs are counted at a time."""
RANGE_PAIRS = 16_000_000
"""Concept pairs (one for each chunk that names both) counted in one pass over the chunks: a
graph with more is counted a range of its concepts at a time, so what counting holds does not
grow with the corpus."""

@dataclass(frozen=True)
class GraphSettings:
    """How the graph is pruned and partitioned. The defaults were chosen on the first 24 of
    SQuAD dev's articles and checked on the other 24 (docs/graph.md,
    ``benchmarks/graph_build.py``)."""

    min_mentions: int = 2
    """A concept mentioned by one chunk links nothing beyond that chunk."""
    max_share: float = 0.2
    """A concept mentioned by more than this share of the chunks (and more than
    ``min_common`` of them) links everything to everything: left out."""
    min_common: int = 30
    min_weight: float = 1.0
    """Links made by fewer chunks than this are dropped (``count``), or weaker than this
    pointwise mutual information (``pmi``; a link of no positive PMI always is)."""
    max_links: int = 1_000_000
    """The most links the graph keeps. Past it the weakest go: the links kept are those
    heavier than the heaviest weight that more than this many reach, so ties are kept or
    dropped together. This bounds the graph, and what Leiden holds while it partitions it,
    whatever the corpus; the shared sets' graphs are far below it (docs/graph.md)."""
    weighting: Weighting = "count"
    max_community: int = 100
    """Communities with more concepts than this are split again, a level down."""
    max_levels: int = 4
    resolution: float = 2.0
    seed: int = 7
    """Leiden's random seed: the same store gives the same communities."""


def settings_digest(settings: GraphSettings) -> str:
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def build_graph(keys: np.ndarray, incidence: Incidence, names: list[str],
                settings: GraphSettings | None = None) -> Graph:
    """The concept graph of chunks ``keys`` (rowids), whose concepts are the columns of the
    binary ``incidence`` (named by ``names``), with its communities."""
    settings = settings or GraphSettings()
    started = time.perf_counter()
    mentioned = column_sums(incidence)
    nodes = _kept_concepts(mentioned, len(keys), names, settings)
    mentions = mentioned[nodes]
    adjacency, dropped = _links(incidence, nodes, mentions, len(keys), settings)
    linked = np.flatnonzero(np.diff(adjacency.indptr) > 0)  # a node with no link is no node
    if len(linked) < len(nodes):  # a copy of every link, made only when one is dropped
        nodes, mentions = nodes[linked], mentions[linked]
        adjacency = adjacency[linked][:, linked].tocsr()
    communities = detect(adjacency, incidence, settings.max_community, settings.max_levels,
                         settings.resolution, settings.seed, columns=nodes)
    return Graph(concepts=nodes.astype(np.int64), adjacency=adjacency,
                 mentions=mentions.astype(np.int64), chunk_keys=np.asarray(keys, dtype=np.int64),
                 communities=communities, seconds=time.perf_counter() - started,
                 settings=settings_digest(settings), links_dropped=dropped)


def column_sums(incidence: Incidence) -> np.ndarray:
    """How many chunks mention each concept, summed over blocks of chunks."""
    sums = np.zeros(incidence.shape[1], dtype=np.float64)
    for start in range(0, incidence.shape[0], BLOCK_CHUNKS):
        sums += np.asarray(incidence[start:start + BLOCK_CHUNKS].sum(axis=0)).ravel()
    return sums


def _kept_concepts(mentions: np.ndarray, chunks: int, names: list[str],
                   settings: GraphSettings) -> np.ndarray:
    """Ids of the concepts the graph keeps, in name order (so a rebuilt index, whose ids
    differ, gives the same graph)."""
    common = max(settings.min_common, settings.max_share * chunks)
    ids = np.flatnonzero((mentions >= settings.min_mentions) & (mentions <= common))
    order = sorted(range(len(ids)), key=lambda at: names[int(ids[at])])
    return ids[np.asarray(order, dtype=np.int64)] if len(ids) else ids


def _links(incidence: Incidence, nodes: np.ndarray, mentions: np.ndarray, chunks: int,
           settings: GraphSettings) -> tuple[sparse.csr_matrix, int]:
    """The weighted links between ``nodes`` (the columns of ``incidence`` kept), as a
    symmetric matrix, and how many links ``max_links`` dropped. Counted a range of rows at a
    time; the weakest are dropped as the ranges are done, whenever more than ``max_links``
    are held. A link dropped then would be dropped at the end too: counting more rows only
    adds links that reach any weight."""
    cap = 2 * settings.max_links  # each link is two entries, one in each of its rows
    bar = 0.0  # entries of this weight or less go
    passed = 0  # entries over min_weight
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for first, end in _row_ranges(_pairs_per_node(incidence, nodes), RANGE_PAIRS):
        rows, cols, weights = _weighted_rows(_counted_rows(incidence, nodes, first, end),
                                             first, mentions, chunks, settings)
        passed += len(weights)
        kept = weights > bar
        held.append((rows[kept], cols[kept], weights[kept]))
        if sum(len(part[2]) for part in held) > cap:
            bar = _heaviest_overfull(np.concatenate([part[2] for part in held]), cap)
            held = [(r[w > bar], c[w > bar], w[w > bar]) for r, c, w in held]
    if not held:
        return sparse.csr_matrix((len(nodes), len(nodes)), dtype=np.float64), 0
    rows, cols, weights = (np.concatenate([part[n] for part in held]) for n in range(3))
    links = sparse.csr_matrix((weights, (rows, cols)), shape=(len(nodes), len(nodes)))
    links.sort_indices()
    return links, (passed - links.nnz) // 2


def _heaviest_overfull(weights: np.ndarray, cap: int) -> float:
    """The heaviest weight that more than ``cap`` of ``weights`` reach: keeping only those
    heavier leaves at most ``cap``."""
    at = len(weights) - cap - 1
    return float(np.partition(weights, at)[at])


def _pairs_per_node(incidence: Incidence, nodes: np.ndarray) -> np.ndarray:
    """For each node, the pairs it is in, one for each chunk that names both: an upper bound
    on the entries of its row."""
    pairs = np.zeros(len(nodes), dtype=np.float64)
    for start in range(0, incidence.shape[0], BLOCK_CHUNKS):
        part = incidence[start:start + BLOCK_CHUNKS][:, nodes]
        named = np.asarray(part.sum(axis=1), dtype=np.float64).ravel()
        pairs += part.T @ np.maximum(named - 1, 0)
    return pairs


def _row_ranges(pairs: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges of rows, each starting in a new ``budget`` of the pairs' running
    total: a range holds about ``budget`` pairs, or one row that holds more."""
    if not len(pairs):
        return []
    window = (np.cumsum(pairs) - pairs) // budget
    bounds = [0, *(np.flatnonzero(np.diff(window)) + 1).tolist(), len(pairs)]
    return list(zip(bounds[:-1], bounds[1:], strict=False))


def _counted_rows(incidence: Incidence, nodes: np.ndarray, first: int, end: int
                  ) -> sparse.coo_matrix:
    """How many chunks name node ``first + i`` and node ``j``, for the rows ``first:end``,
    summed over blocks of chunks: the kept columns of every chunk are never copied at once.
    Summed as int32, which holds the count of any pair in half the room of float64."""
    position = np.full(incidence.shape[1], -1, dtype=np.int32)
    position[nodes] = np.arange(len(nodes), dtype=np.int32)
    counts = sparse.csr_matrix((end - first, len(nodes)), dtype=np.int32)
    for start in range(0, incidence.shape[0], BLOCK_CHUNKS):
        rows, cols, chunks = _node_entries(incidence[start:start + BLOCK_CHUNKS], position)
        named = sparse.csr_matrix((np.ones(len(cols), np.int32), cols, _indptr(rows, chunks)),
                                  shape=(chunks, len(nodes)))
        inside = np.flatnonzero((cols >= first) & (cols < end))
        by_node = inside[np.argsort(cols[inside], kind="stable")]
        ranged = sparse.csr_matrix(
            (np.ones(len(by_node), np.int32), rows[by_node],
             _indptr(cols[by_node] - first, end - first)), shape=(end - first, chunks))
        counts = counts + ranged @ named
    result: sparse.coo_matrix = counts.tocoo()
    return result


def _node_entries(part: sparse.csr_matrix, position: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """(row, node) of each mention in a block of the incidence whose concept is a node, rows
    in order; and the block's rows. Built from the block's arrays: scipy's column indexing
    and conversions cost several times the counting itself, once per range."""
    cols = position[part.indices]
    rows = np.repeat(np.arange(part.shape[0], dtype=np.int32), np.diff(part.indptr))
    kept = cols >= 0
    return rows[kept], cols[kept], part.shape[0]


def _indptr(rows: np.ndarray, count: int) -> np.ndarray:
    """The CSR row pointer of entries whose rows, in order, are ``rows``."""
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=count), out=indptr[1:])
    return indptr


def _weighted_rows(counts: sparse.coo_matrix, first: int, mentions: np.ndarray, chunks: int,
                   settings: GraphSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, weight) of the links of rows ``first:`` that pass ``min_weight``; a
    concept's count with itself is no link."""
    rows = counts.row.astype(np.int32) + first
    others = rows != counts.col
    rows, cols, shared = rows[others], counts.col[others].astype(np.int32), counts.data[others]
    if settings.weighting == "pmi":
        weights = np.log(shared * chunks / (mentions[rows] * mentions[cols]))
    else:
        weights = shared.astype(np.float64)
    strong = (weights >= settings.min_weight) & (weights > 0)
    return rows[strong], cols[strong], weights[strong]
