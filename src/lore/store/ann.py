"""The vector-index family: a registry of backends, a factory, a loader and the size rule.

``exact`` (``flat.ExactIndex``) scans every vector; ``hnsw`` (``hnsw.HnswIndex``) walks a graph;
``ivfpq`` (``ivfpq.IvfPqIndex``) scans product-quantised codes in a few inverted lists and
``lsh`` (``lsh.LshIndex``) ranks random-hyperplane sign bits by Hamming distance, both then
re-scoring their shortlist exactly from the store (``protocol.Rescoring``); ``pgvector``
(``pgvector.PgvectorIndex``) has PostgreSQL search its HNSW graph inside a PostgreSQL store.
Each saves to a directory as ``params.json`` plus data files; ``params.json`` names the kind,
so ``load_index`` needs no other hint. An index is derived data: when ``load_index`` raises
``StoreError`` the caller rebuilds it from the store.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from lore.config import IndexConfig
from lore.errors import ConfigError, StoreError
from lore.store.flat import ExactIndex, read_params
from lore.store.hnsw import INSTALL_ANN, HnswIndex
from lore.store.ivfpq import IvfPqIndex
from lore.store.lsh import LshIndex
from lore.store.pgvector import PgvectorIndex
from lore.store.protocol import VectorIndex

ANN_BACKENDS: dict[str, Callable[..., VectorIndex]] = {
    "exact": ExactIndex, "hnsw": HnswIndex, "ivfpq": IvfPqIndex, "lsh": LshIndex,
    "pgvector": PgvectorIndex}
"""Constructors by kind; each takes ``dim`` and its own keyword settings."""

_LOADERS: dict[str, Callable[[Path, bool], VectorIndex]] = {
    "exact": ExactIndex.load,
    "hnsw": HnswIndex.load,
    "ivfpq": IvfPqIndex.load,
    "lsh": LshIndex.load,
    "pgvector": PgvectorIndex.load,
}

HYSTERESIS = 0.8
"""An index chosen by size is kept until the collection shrinks below this share of the
threshold that chose it, so a collection hovering around one is not rebuilt back and forth."""


def create_index(kind: str, dim: int, config: IndexConfig | None = None) -> VectorIndex:
    """A new, empty index of ``kind`` (a key of ``ANN_BACKENDS``) for ``dim``-dimensional vectors,
    with the settings of ``config`` where it has some for that kind.

    >>> create_index("exact", dim=384).kind
    'exact'
    """
    try:
        backend = ANN_BACKENDS[kind]
    except KeyError:
        raise ConfigError(f"unknown vector index {kind!r}; choose from "
                          f"{', '.join(sorted(ANN_BACKENDS))}") from None
    if kind == "pgvector" and config is not None:
        return PgvectorIndex(dim, config.pgvector_m, config.pgvector_ef_construction,
                             config.pgvector_ef_search)
    if kind == "hnsw" and config is not None:
        return HnswIndex(dim, segment_size=config.hnsw_segment)
    return backend(dim=dim)


def load_index(directory: Path, mmap: bool = False) -> VectorIndex:
    """Open the index saved in ``directory``, whatever its kind.

    Args:
        directory: a folder written by an index's ``save``.
        mmap: memory-map the data files instead of reading them (copied on first change).

    Raises:
        StoreError: the folder holds no index, or a damaged one; rebuild it from the store.
    """
    kind = read_params(directory)["kind"]
    try:
        loader = _LOADERS[kind]
    except KeyError:
        raise StoreError(f"{directory} holds an index of unknown kind {kind!r} (this lore reads "
                         f"{', '.join(sorted(_LOADERS))}); rebuild the index") from None
    return loader(directory, mmap)


def choose_kind(n_vectors: int, config: IndexConfig, current: str | None = None,
                in_database: bool = False) -> str:
    """Which kind of index suits ``n_vectors``: what ``config.ann`` forces, else by size.

    ``auto`` gives ``exact`` below ``config.hnsw_threshold`` vectors, ``hnsw`` from there and
    ``ivfpq`` from ``config.ivfpq_threshold`` on (where a graph holding float32 vectors takes
    too much memory); ``lsh`` is never chosen by size, only by name. ``in_database`` (the store
    is PostgreSQL) gives ``pgvector`` instead of either graph: the database searches, and no
    process holds the vectors. Pass the ``current`` kind to keep an existing index while the
    collection stays above ``HYSTERESIS`` x the threshold that chose it. A forced kind is
    returned whatever ``current`` is, so an index of another kind is rebuilt.

    >>> choose_kind(1_000, IndexConfig())
    'exact'
    """
    if config.ann == "pgvector" and not in_database:
        raise ConfigError("index.ann is 'pgvector', which searches inside a PostgreSQL store; "
                          "index with --store postgresql://..., or choose another index")
    if config.ann in ANN_BACKENDS:
        return config.ann
    if config.ann != "auto":
        raise ConfigError(f"index.ann is {config.ann!r}; choose from auto, "
                          f"{', '.join(ANN_BACKENDS)}")
    kind = _kind_by_size(n_vectors, config, current)
    if in_database and kind != "exact":
        return "pgvector"
    while not installed(kind):  # an optional library is missing: the next best kind
        kind = FALLBACK[kind]
    return kind


def _kind_by_size(n_vectors: int, config: IndexConfig, current: str | None) -> str:
    ivfpq, hnsw = config.ivfpq_threshold, config.hnsw_threshold
    if current == "pgvector":
        current = "hnsw"
    if n_vectors >= ivfpq or (current == "ivfpq" and n_vectors >= HYSTERESIS * ivfpq):
        return "ivfpq"
    if n_vectors >= hnsw or (current in ("hnsw", "ivfpq") and n_vectors >= HYSTERESIS * hnsw):
        return "hnsw"
    return "exact"


LIBRARIES = {"hnsw": "usearch", "ivfpq": "faiss", "lsh": "faiss", "pgvector": "psycopg"}
"""The optional library each index kind needs (``pip install 'lore[ann]'``)."""
FALLBACK = {"ivfpq": "hnsw", "hnsw": "exact", "lsh": "exact", "pgvector": "exact"}


def installed(kind: str) -> bool:
    """Whether the library ``kind`` needs is importable (``exact`` needs none)."""
    library = LIBRARIES.get(kind)
    return library is None or importlib.util.find_spec(library) is not None


def missing_ann_warning(n_vectors: int, config: IndexConfig) -> str | None:
    """What to tell a user whose collection would use an index whose library is missing."""
    if config.ann != "auto":
        return None
    wanted = _kind_by_size(n_vectors, config, None)
    if installed(wanted):
        return None
    return (f"{n_vectors:,} vectors call for a {wanted} index, but {LIBRARIES[wanted]} is not "
            f"installed, so search uses {choose_kind(n_vectors, config)} (slower). Fix: "
            f"{INSTALL_ANN}")
