"""Nearest neighbours searched inside PostgreSQL, on pgvector's HNSW graph.

A ``VectorIndex`` whose data is the store itself: the vectors table of a ``PostgresStore`` and
an HNSW index over it, which PostgreSQL keeps up with every write. So ``add`` and ``remove``
have nothing to do, the saved copy is only its settings, and a process serving searches holds
no vectors in memory: replicas of a server share one graph.

Settings (``IndexConfig.pgvector_*``): ``m`` links per node and ``ef_construction`` candidates
while building fix the graph (changing either builds it again); ``ef_search``, the candidate
list of each search, can change any time. pgvector 0.6 stops a filtered graph search at
``ef_search`` rows, so a filter is served as ``HnswIndex`` serves one: the allowed chunks are
scored exactly when few, else the graph is oversampled and filtered, and scored exactly after
all when too few pass. ``python benchmarks/pg_scale.py`` measures recall, latency, build time
and disk from 10k to 1M chunks (docs/postgres.md).

Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical
Navigable Small World graphs", TPAMI 2020.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lore.config import IndexConfig
from lore.errors import ConfigError, StoreError
from lore.store.flat import check_k, check_query, param_int, read_params, write_params

if TYPE_CHECKING:
    from lore.store.postgres import PostgresStore

M = IndexConfig.pgvector_m
EF_CONSTRUCTION = IndexConfig.pgvector_ef_construction
EF_SEARCH = IndexConfig.pgvector_ef_search
"""The defaults are the configuration's (``IndexConfig`` says how each was chosen)."""
MAX_EF_SEARCH = 1_000
"""pgvector's ceiling for ``hnsw.ef_search``."""
BUILD_MEMORY_MB = (64, 16_384)
"""Bounds of the ``maintenance_work_mem`` asked for while the graph is built
(``build_memory``): PostgreSQL's default, and a ceiling for a server's sake."""
OVERSAMPLE = 2.0
"""A filtered search asks the graph for ``k * OVERSAMPLE / share-allowed`` rows, then filters."""
EXACT_ALLOWED = 20_000
"""Filters that let this many chunks through or fewer are scored exactly: the scan of those
rows costs less than oversampling the graph."""


class PgvectorIndex:
    """HNSW search run by PostgreSQL over a ``PostgresStore``'s vectors.

    The index is useless until ``attach`` gives it its store (``VectorFeed`` does); ``sync``
    builds the graph when it is missing and counts the searchable chunks.

    Example::

        index = PgvectorIndex(dim=384)
        index.attach(store)          # a PostgresStore
        index.sync()
        keys, scores = index.search(query, k=10)
    """

    kind = "pgvector"

    def __init__(self, dim: int, m: int = M, ef_construction: int = EF_CONSTRUCTION,
                 ef_search: int = EF_SEARCH) -> None:
        if dim <= 0:
            raise ConfigError(f"vector dimension must be positive, got {dim}")
        if min(m, ef_construction, ef_search) <= 0 or m < 2 or ef_construction < 2 * m:
            raise ConfigError(f"pgvector needs m >= 2, ef_construction >= 2 * m and a positive "
                              f"ef_search; got m={m}, ef_construction={ef_construction}, "
                              f"ef_search={ef_search}")
        self.dim, self.m, self.ef_construction = dim, m, ef_construction
        self.ef_search = ef_search
        """Candidates per search; each search raises it to the rows it asks for and caps it at
        ``MAX_EF_SEARCH``."""
        self._store: PostgresStore | None = None
        self._count = 0

    def attach(self, store: object) -> None:
        """Search in ``store``; StoreError when it is not a PostgreSQL store (the index is
        then rebuilt as another kind)."""
        from lore.store.postgres import PostgresStore

        if not isinstance(store, PostgresStore):
            raise StoreError("a pgvector index searches inside a PostgreSQL store, and this "
                             "knowledge base's store is not one; rebuild the index")
        self._store = store

    def sync(self) -> None:
        """Build the graph if it is missing (the first time, or after a new embedder), and
        count the chunks it can find."""
        store = self._attached()
        count = store.searchable_count(self.dim)
        store.build_hnsw(self.dim, self.m, self.ef_construction,
                         build_memory(count, self.dim, self.m))
        self._count = count

    def size_bytes(self) -> int:
        """Disk the graph takes in the database."""
        return self._attached().hnsw_size_bytes(self.dim, self.m, self.ef_construction)

    def __len__(self) -> int:
        return self._count

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Nothing to do: the store's write put them in the graph."""

    def remove(self, keys: np.ndarray) -> None:
        """Nothing to do: the store's write took them out of the graph."""

    def search(self, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        check_k(k)
        q = check_query(query, self.dim)
        if k == 0 or self._count == 0:
            return _pairs([])
        if allowed is None:
            keys, scores = _pairs(self._graph(q, k))
            return keys[:k], scores[:k]
        allowed = np.unique(np.asarray(allowed, dtype=np.int64))
        if len(allowed) == 0:
            return _pairs([])
        limit = math.ceil(k * OVERSAMPLE * self._count / len(allowed))
        if len(allowed) <= EXACT_ALLOWED or limit > MAX_EF_SEARCH:
            return _pairs(self._attached().nearest_among(q, allowed, k))
        keys, scores = _pairs(self._graph(q, limit))
        passed = np.isin(keys, allowed)
        if passed.sum() < k:  # the graph's neighbourhood held too few: score them all
            return _pairs(self._attached().nearest_among(q, allowed, k))
        return keys[passed][:k], scores[passed][:k]

    def save(self, directory: Path) -> None:
        """Only the settings: the graph lives in the database."""
        write_params(directory, {"kind": self.kind, "dim": self.dim, "m": self.m,
                                 "ef_construction": self.ef_construction,
                                 "ef_search": self.ef_search})

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> PgvectorIndex:
        params = read_params(directory, cls.kind)
        return cls(param_int(params, "dim", directory, 1), param_int(params, "m", directory, 2),
                   param_int(params, "ef_construction", directory, 4),
                   param_int(params, "ef_search", directory, 1))

    def _graph(self, q: np.ndarray, limit: int) -> list[tuple[int, float]]:
        ef = min(max(self.ef_search, limit), MAX_EF_SEARCH)
        return self._attached().nearest(q, min(limit, ef), ef)

    def _attached(self) -> PostgresStore:
        if self._store is None:
            raise StoreError("this pgvector index has no store attached; open it through a "
                             "knowledge base whose store is PostgreSQL")
        return self._store


def build_memory(count: int, dim: int, m: int) -> str:
    """``maintenance_work_mem`` for building a graph of ``count`` vectors: its size in memory
    (each node's float32 vector, up to ``2 m`` neighbours on the bottom layer at 8 bytes, and
    a node's bookkeeping) with a quarter to spare. A graph that outgrows the setting is still
    built, many times slower."""
    node = 4 * dim + 8 * 2 * m + 64
    low, high = BUILD_MEMORY_MB
    return f"{min(max(math.ceil(1.25 * count * node / 2**20), low), high)}MB"


def _pairs(pairs: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.fromiter((key for key, _ in pairs), dtype=np.int64, count=len(pairs))
    scores = np.fromiter((score for _, score in pairs), dtype=np.float32, count=len(pairs))
    return keys, scores
