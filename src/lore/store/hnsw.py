"""Approximate nearest-neighbour search on an HNSW graph (usearch).

usearch is chosen over hnswlib and faiss. All three reach the same recall at the same ef; the
other two search a fraction of a millisecond faster and build faster, which is little next to
embedding the query and the corpus, but they carry costs that matter more:

- hnswlib ships no wheels (``pip install`` compiles C++, which fails without a compiler), has
  had no release since 2023, and its filter is a Python callback;
- faiss's HNSW cannot delete (``remove_ids`` raises), and its filtered search loses recall;
- usearch deletes natively, memory-maps its one file, ships wheels everywhere, is maintained,
  and is already a dependency of lore.

``python benchmarks/ann_choice.py`` measures the three libraries (docs/vector-indexes.md).

Its Python API has no filter predicate, so filtered search is done here: the allowed vectors
are scored exactly when few, the graph is oversampled and filtered when many. Switching library
means rewriting this file only.

Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical
Navigable Small World graphs", TPAMI 2020.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from lore.errors import ConfigError, MissingDependency, StoreError
from lore.store.flat import (
    Keys,
    Scores,
    check_batch,
    check_k,
    check_keys,
    check_query,
    inner,
    param_int,
    read_params,
    top_k,
    unique_last,
    write_params,
)

if TYPE_CHECKING:
    from usearch.index import Index

INSTALL_ANN = "pip install 'lore[ann]'"

CONNECTIVITY = 16
"""M: links per node. 16 keeps the graph's memory close to the raw vectors' and recall@10 above
0.95 to 200k vectors (``python benchmarks/ann_choice.py``; docs/vector-indexes.md)."""
EF_CONSTRUCTION = 128
"""Candidate list while inserting: higher builds slower and links better."""
EF_SEARCH = 128
"""Candidate list while searching (>= k is enforced). 128 is the smallest ef tried that keeps
recall@10 above 0.95 to 200k vectors, at about a millisecond a query or less.
``python benchmarks/ann_choice.py`` measures recall and latency over ef
(docs/vector-indexes.md)."""
EXACT_BELOW = 2_048
"""Indexes this small, or asked for half their keys or more, are searched exactly (and fully)."""
OVERSAMPLE = 2.0
"""A filtered graph search asks for ``k * OVERSAMPLE / share-allowed`` candidates, then filters."""
EXACT_ALLOWED = 4.0
"""Filtered search scores the ``m`` allowed vectors exactly when ``m * m <= EXACT_ALLOWED * k * n``.

Exact scoring costs a fixed time per allowed key (fetching it from usearch), the graph a fixed
time per candidate, and the graph needs ``k * OVERSAMPLE * n / m`` candidates: so exact wins
while ``m * m`` is below a constant times ``k * n``. The per-key costs behind 4.0 are in
docs/vector-indexes.md (filtered search)."""
EXACT_ALLOWED_MIN = 256
"""However large the index, this many allowed keys or fewer are always scored exactly."""
COMPACT_AFTER = 0.5
"""Rebuild the graph once deleted nodes outnumber this share of the live ones (and 1,000)."""

_FILE = "index.usearch"


class HnswIndex:
    """Approximate inner-product search over int64 keys (>= 0) on a usearch HNSW graph.

    ``ef_search`` trades speed for recall and can be changed per search. Deleted keys never come
    back; their nodes are dropped when the graph is rebuilt, which happens by itself once they
    are many. Writers must not overlap anything; searches may overlap each other, but the
    ef of one may then apply to the other (usearch keeps ef on the graph, not per call).

    Example::

        index = HnswIndex(dim=3)
        index.add(np.array([7, 8]), np.eye(3, dtype=np.float32)[:2])
        keys, scores = index.search(np.array([1, 0, 0], np.float32), k=1, ef_search=32)
        assert keys.tolist() == [7]
    """

    kind = "hnsw"

    def __init__(self, dim: int, connectivity: int = CONNECTIVITY,
                 ef_construction: int = EF_CONSTRUCTION, ef_search: int = EF_SEARCH) -> None:
        if dim <= 0:
            raise ConfigError(f"vector dimension must be positive, got {dim}")
        if min(connectivity, ef_construction, ef_search) <= 0:
            raise ConfigError("connectivity, ef_construction and ef_search must be positive, got "
                              f"{connectivity}, {ef_construction}, {ef_search}")
        self.dim = dim
        self.connectivity = connectivity
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self._graph = self._new_graph()
        self._deleted = 0
        """Nodes removed since the graph was built; they still cost memory and traversal."""
        self._view = False
        """True while the graph is a read-only memory map; copied before the first change."""

    def __len__(self) -> int:
        return len(self._graph)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` under ``keys``; a key already present gets its vector replaced."""
        keys, vectors = unique_last(*check_batch(keys, vectors, self.dim))
        if not len(keys):
            return
        _check_non_negative(keys)
        self._writable()
        present = keys[self._graph.contains(keys)]
        if len(present):
            self._graph.remove(present)
            self._deleted += len(present)
        self._graph.add(keys, vectors, threads=os.cpu_count() or 1)
        self._compact_if_sparse()

    def remove(self, keys: np.ndarray) -> None:
        """Drop ``keys``; keys not in the index are ignored."""
        wanted = np.unique(check_keys(keys))
        wanted = wanted[wanted >= 0]
        if not len(wanted) or not len(self):
            return
        present = wanted[self._graph.contains(wanted)]
        if len(present):
            self._writable()
            self._graph.remove(present)
            self._deleted += len(present)
            self._compact_if_sparse()

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               ef_search: int | None = None) -> tuple[Keys, Scores]:
        """The (approximately) ``k`` best keys for ``query`` by inner product, best first.

        Args:
            query: ``(dim,)`` float32 vector.
            k: how many hits at most.
            allowed: when given, only these keys may be returned.
            ef_search: candidate list size for this search (default ``self.ef_search``).

        Returns:
            ``(keys, scores)``: int64 and float32 arrays of equal length.
        """
        q = check_query(query, self.dim)
        check_k(k)
        ef = self.ef_search if ef_search is None else ef_search
        k = min(k, len(self))
        if k == 0:
            return _empty()
        if allowed is not None:
            return self._search_allowed(q, k, allowed, ef)
        if len(self) <= EXACT_BELOW or 2 * k >= len(self):
            return self._search_graph(q, k, ef, exact=True)
        return self._search_graph(q, k, ef)

    def vectors_of(self, keys: np.ndarray) -> np.ndarray:
        """The stored vectors of ``keys`` (all must be present), one row each, in that order."""
        wanted = check_keys(keys)
        if not len(wanted):
            return np.empty((0, self.dim), dtype=np.float32)
        missing = wanted[~self._graph.contains(wanted)]
        if len(missing):
            raise StoreError(f"key {int(missing[0])} is not in the index")
        return _vectors_of(self._graph, wanted)

    def save(self, directory: Path) -> None:
        """Write ``params.json`` and ``index.usearch`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        temp = directory / (_FILE + ".tmp")
        self._graph.save(str(temp))
        os.replace(temp, directory / _FILE)
        write_params(directory, {
            "kind": self.kind, "dim": self.dim, "count": len(self), "deleted": self._deleted,
            "connectivity": self.connectivity, "ef_construction": self.ef_construction,
            "ef_search": self.ef_search, "library": "usearch"})

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> HnswIndex:
        """Read an index written by ``save``.

        Args:
            directory: the folder ``save`` wrote.
            mmap: map the graph file read-only instead of reading it; the first change copies
                it into memory.

        Raises:
            StoreError: a file is missing, truncated or inconsistent; rebuild the index.
        """
        params = read_params(directory, cls.kind)
        ints = {name: param_int(params, name, directory, minimum=1) for name in
                ("dim", "connectivity", "ef_construction", "ef_search")}
        ints.update({name: param_int(params, name, directory) for name in ("count", "deleted")})
        index = cls(ints["dim"], ints["connectivity"], ints["ef_construction"], ints["ef_search"])
        index._graph = _restore(directory / _FILE, mmap)
        index._deleted, index._view = ints["deleted"], mmap
        _check_restored(index._graph, index.dim, ints["count"], directory)
        return index

    def _new_graph(self) -> Index:
        return usearch_index()(ndim=self.dim, metric="ip", dtype="f32",
                               connectivity=self.connectivity,
                               expansion_add=self.ef_construction,
                               expansion_search=self.ef_search)

    def _search_graph(self, q: np.ndarray, k: int, ef: int,
                      exact: bool = False) -> tuple[Keys, Scores]:
        # usearch declares the setter apart from its property, which mypy reads as read-only.
        self._graph.expansion_search = max(ef, k)  # type: ignore[misc]
        matches: Any = self._graph.search(q, k, threads=1, exact=exact)
        keys = np.asarray(matches.keys).astype(np.int64)
        return keys, (1.0 - np.asarray(matches.distances)).astype(np.float32)

    def _search_allowed(self, q: np.ndarray, k: int, allowed: np.ndarray,
                        ef: int) -> tuple[Keys, Scores]:
        wanted = np.unique(check_keys(allowed))
        wanted = wanted[wanted >= 0]
        m, n = len(wanted), len(self)
        if m <= EXACT_ALLOWED_MIN or m * m <= EXACT_ALLOWED * k * n:
            live = wanted[self._graph.contains(wanted)] if m else wanted
            return self._score_exactly(q, k, live)
        # Many allowed keys: oversample the graph by how rare they are, then filter. Keys in
        # ``allowed`` but not in the index only make the first guess of ``count`` too small.
        count = min(n, math.ceil(k * OVERSAMPLE * n / m))
        while True:
            keys, scores = self._search_graph(q, count, ef, exact=count >= n)
            keep = np.isin(keys, wanted)
            if keep.sum() >= k or count >= n:
                return keys[keep][:k], scores[keep][:k]
            count = min(n, 4 * count)

    def _score_exactly(self, q: np.ndarray, k: int, keys: np.ndarray) -> tuple[Keys, Scores]:
        if not len(keys):
            return _empty()
        scores = inner(_vectors_of(self._graph, keys), q)
        best = top_k(scores, k)
        return keys[best], scores[best]

    def _writable(self) -> None:
        if self._view:
            self._graph, self._view = self._graph.copy(), False

    def _compact_if_sparse(self) -> None:
        if self._deleted <= max(1_000, COMPACT_AFTER * len(self)):
            return
        keys = np.asarray(self._graph.keys[:], dtype=np.uint64)
        graph = self._new_graph()
        if len(keys):
            graph.add(keys, _vectors_of(self._graph, keys), threads=os.cpu_count() or 1)
        self._graph = graph
        self._deleted = 0


def _vectors_of(graph: Index, keys: np.ndarray) -> np.ndarray:
    """The stored vectors of ``keys``, all present, as one float32 matrix."""
    rows = cast(tuple[np.ndarray, ...], graph.get(keys))
    return np.stack(rows).astype(np.float32, copy=False)


def _restore(path: Path, mmap: bool) -> Index:
    if not path.is_file():
        raise StoreError(f"{path} is missing; rebuild the index")
    try:
        graph = usearch_index().restore(str(path), view=mmap)
    except (ValueError, RuntimeError, OSError) as exc:
        raise StoreError(f"{path} is unreadable ({exc}); rebuild the index") from None
    if graph is None:
        raise StoreError(f"{path} is not a usearch index; rebuild the index")
    return graph


def _check_restored(graph: Index, dim: int, count: int, directory: Path) -> None:
    if graph.ndim != dim or graph.metric_kind != _metric_ip() or len(graph) != count:
        raise StoreError(f"{directory / _FILE} holds {len(graph)} vectors of dimension "
                         f"{graph.ndim} ({graph.metric_kind}), but params.json says {count} of "
                         f"dimension {dim} (inner product); rebuild the index")


def _check_non_negative(keys: np.ndarray) -> None:
    if len(keys) and int(keys.min()) < 0:
        raise ConfigError(f"HNSW keys must be non-negative (SQLite rowids), got {int(keys.min())}")


def _empty() -> tuple[Keys, Scores]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def usearch_index() -> type[Index]:
    """usearch's ``Index`` class, imported on first use; MissingDependency when absent."""
    try:
        from usearch.index import Index
    except ImportError:
        raise MissingDependency(f"the hnsw index needs usearch: {INSTALL_ANN}") from None
    return Index


def _metric_ip() -> Any:
    from usearch.compiled import MetricKind

    return MetricKind.IP
