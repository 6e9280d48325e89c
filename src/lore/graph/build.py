"""From chunk-concept incidence to the concept graph: two concepts are linked by the chunks
that mention both, weighted by how many (or by their pointwise mutual information); concepts
too rare or too common to tell anything apart are left out, and so are weak links."""

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
    adjacency = _weighted(_cooccurrence(incidence, nodes), mentions, len(keys), settings)
    linked = np.flatnonzero(np.diff(adjacency.indptr) > 0)  # a node with no link is no node
    if len(linked) < len(nodes):  # a copy of every link, made only when one is dropped
        nodes, mentions = nodes[linked], mentions[linked]
        adjacency = adjacency[linked][:, linked].tocsr()
    communities = detect(adjacency, incidence, settings.max_community, settings.max_levels,
                         settings.resolution, settings.seed, columns=nodes)
    return Graph(concepts=nodes.astype(np.int64), adjacency=adjacency,
                 mentions=mentions.astype(np.int64), chunk_keys=np.asarray(keys, dtype=np.int64),
                 communities=communities, seconds=time.perf_counter() - started,
                 settings=settings_digest(settings))


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


def _cooccurrence(incidence: Incidence, nodes: np.ndarray) -> sparse.csr_matrix:
    """How many chunks mention each pair of ``nodes`` (the columns of ``incidence`` kept),
    summed over blocks of chunks: the kept columns of every chunk are never copied at once.
    Summed as int32, which holds the count of any pair half the size of float64, then made
    float64 once (the weights are)."""
    counts = sparse.csr_matrix((len(nodes), len(nodes)), dtype=np.int32)
    for start in range(0, incidence.shape[0], BLOCK_CHUNKS):
        part = incidence[start:start + BLOCK_CHUNKS][:, nodes].astype(np.int32)
        counts = counts + part.T @ part
    return counts.tocsr().astype(np.float64)


def _weighted(counts: sparse.csr_matrix, mentions: np.ndarray, chunks: int,
              settings: GraphSettings) -> sparse.csr_matrix:
    counts.setdiag(0)
    counts.eliminate_zeros()
    if settings.weighting == "pmi":
        coo = counts.tocoo()
        pmi = np.log(coo.data * chunks / (mentions[coo.row] * mentions[coo.col]))
        weights = sparse.csr_matrix((pmi, (coo.row, coo.col)), shape=counts.shape)
    else:
        weights = counts
    weights.data[(weights.data < settings.min_weight) | (weights.data <= 0)] = 0
    weights.eliminate_zeros()
    result: sparse.csr_matrix = weights.tocsr()
    return result
