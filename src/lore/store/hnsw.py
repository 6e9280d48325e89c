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
import shutil
from collections.abc import Callable
from dataclasses import dataclass
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
"""Rebuild a segment's graph once deleted nodes outnumber this share of its live ones (and
1,000)."""
SEGMENT_SIZE = 131_072
"""Nodes a segment holds at most. A graph is built whole in memory, so this bounds what a
build holds, whatever the collection's size; each further segment adds one graph search to a
query. ``python benchmarks/hnsw_segments.py`` measures recall, latency and build memory by
segment size (docs/vector-indexes.md)."""

_LEGACY_FILE = "index.usearch"
"""The one graph file of a copy saved before segments."""


@dataclass
class Segment:
    """One graph of a segmented index, and what it costs."""

    graph: Index
    deleted: int = 0
    """Nodes removed since the graph was built; they still cost memory and traversal."""
    source: Path | None = None
    """The file the graph is a read-only memory map of, until the first change copies it into
    memory: an unchanged segment is saved again by linking that file."""

    @property
    def nodes(self) -> int:
        return len(self.graph) + self.deleted


class HnswIndex:
    """Approximate inner-product search over int64 keys (>= 0) on usearch HNSW graphs.

    The vectors are held in segments of at most ``segment_size`` nodes, each its own graph, as
    Lucene holds them: a query searches every segment and keeps the best hits of all. A graph
    is built whole in memory, so bounded segments let ``HnswWriter`` write a collection of any
    size while holding one segment. One graph is searched faster than several at the same
    recall, but its build holds all of it. An index below ``segment_size`` is one graph.

    ``ef_search`` trades speed for recall and can be changed per search. Deleted keys never come
    back; their nodes are dropped when their segment is rebuilt, which happens by itself once
    they are many. Writers must not overlap anything; searches may overlap each other, but the
    ef of one may then apply to the other (usearch keeps ef on the graph, not per call).

    Example::

        index = HnswIndex(dim=3)
        index.add(np.array([7, 8]), np.eye(3, dtype=np.float32)[:2])
        keys, scores = index.search(np.array([1, 0, 0], np.float32), k=1, ef_search=32)
        assert keys.tolist() == [7]
    """

    kind = "hnsw"

    def __init__(self, dim: int, connectivity: int = CONNECTIVITY,
                 ef_construction: int = EF_CONSTRUCTION, ef_search: int = EF_SEARCH,
                 segment_size: int = SEGMENT_SIZE) -> None:
        if dim <= 0:
            raise ConfigError(f"vector dimension must be positive, got {dim}")
        if min(connectivity, ef_construction, ef_search, segment_size) <= 0:
            raise ConfigError("connectivity, ef_construction, ef_search and segment_size must "
                              f"be positive, got {connectivity}, {ef_construction}, "
                              f"{ef_search}, {segment_size}")
        usearch_index()  # a missing library is said now, not at the first add
        self.dim = dim
        self.connectivity = connectivity
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.segment_size = segment_size
        self.segments: list[Segment] = []

    def __len__(self) -> int:
        return sum(len(segment.graph) for segment in self.segments)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` under ``keys``; a key already present gets its vector replaced."""
        keys, vectors = unique_last(*check_batch(keys, vectors, self.dim))
        if not len(keys):
            return
        check_non_negative(keys)
        self.remove(keys)
        start = 0
        while start < len(keys):
            if not self.segments or self.segments[-1].nodes >= self.segment_size:
                self.segments.append(Segment(self.new_graph()))
            tail = self._writable(self.segments[-1])
            stop = start + self.segment_size - tail.nodes
            tail.graph.add(keys[start:stop], vectors[start:stop], threads=os.cpu_count() or 1)
            start = stop

    def remove(self, keys: np.ndarray) -> None:
        """Drop ``keys``; keys not in the index are ignored."""
        wanted = np.unique(check_keys(keys))
        wanted = wanted[wanted >= 0]
        if not len(wanted):
            return
        for segment in self.segments:
            present = wanted[segment.graph.contains(wanted)]
            if len(present):
                self._writable(segment).graph.remove(present)
                segment.deleted += len(present)
                compact_if_sparse(segment, self.new_graph)
        self.segments = [segment for segment in self.segments if len(segment.graph)]

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
        return self._search_graphs(q, k, ef)

    def vectors_of(self, keys: np.ndarray) -> np.ndarray:
        """The stored vectors of ``keys`` (all must be present), one row each, in that order."""
        wanted = check_keys(keys)
        rows = np.empty((len(wanted), self.dim), dtype=np.float32)
        found = np.zeros(len(wanted), dtype=bool)
        for segment in self.segments:
            here = ~found & segment.graph.contains(wanted)
            if here.any():
                rows[here] = _vectors_of(segment.graph, wanted[here])
                found |= here
        if not found.all():
            raise StoreError(f"key {int(wanted[~found][0])} is not in the index")
        return rows

    def save(self, directory: Path) -> None:
        """Write ``params.json`` and one ``segment-N.usearch`` file a segment into
        ``directory``; an unchanged memory-mapped segment is linked, not written again."""
        directory.mkdir(parents=True, exist_ok=True)
        files = []
        for number, segment in enumerate(self.segments):
            path = directory / segment_file(number)
            if segment.source is not None and segment.source.exists():
                link_or_copy(segment.source, path)
            else:  # in memory, or mapped from a copy another process has since removed
                save_graph(segment.graph, path)
            files.append(segment_entry(path.name, len(segment.graph), segment.deleted))
        write_index_params(directory, self.settings(), files)

    def settings(self) -> dict[str, int]:
        """What ``params.json`` records of the graphs' construction, besides their files."""
        return {"dim": self.dim, "connectivity": self.connectivity,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "segment_size": self.segment_size}

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> HnswIndex:
        """Read an index written by ``save`` (or by ``HnswWriter``).

        Args:
            directory: the folder ``save`` wrote.
            mmap: map the graph files read-only instead of reading them; the first change to
                a segment copies that segment into memory.

        Raises:
            StoreError: a file is missing, truncated or inconsistent; rebuild the index.
        """
        params = read_params(directory, cls.kind)
        ints = {name: param_int(params, name, directory, minimum=1) for name in
                ("dim", "connectivity", "ef_construction", "ef_search")}
        size = params.get("segment_size", SEGMENT_SIZE)  # absent from single-graph copies
        index = cls(ints["dim"], ints["connectivity"], ints["ef_construction"], ints["ef_search"],
                    size if isinstance(size, int) and size > 0 else SEGMENT_SIZE)
        for name, count, deleted in segment_list(params, directory):
            graph = restore_graph(directory / name, mmap)
            check_restored(graph, index.dim, count, directory / name)
            if count:
                index.segments.append(Segment(graph, deleted, directory / name if mmap else None))
        return index

    def new_graph(self) -> Index:
        return usearch_index()(ndim=self.dim, metric="ip", dtype="f32",
                               connectivity=self.connectivity,
                               expansion_add=self.ef_construction,
                               expansion_search=self.ef_search)

    def _search_graphs(self, q: np.ndarray, count: int, ef: int,
                       exact: bool = False) -> tuple[Keys, Scores]:
        """The best ``count`` of every segment's best ``count``: a graph that small, or asked
        for half its keys or more, is searched exactly (and fully)."""
        found = []
        for segment in self.segments:
            size = len(segment.graph)
            here = min(count, size)
            found.append(_search_graph(segment.graph, q, here, ef, exact or size <= EXACT_BELOW
                                       or 2 * here >= size))
        if len(found) == 1:
            return found[0]
        keys = np.concatenate([keys for keys, _ in found])
        scores = np.concatenate([scores for _, scores in found])
        best = top_k(scores, count)
        return keys[best], scores[best]

    def _search_allowed(self, q: np.ndarray, k: int, allowed: np.ndarray,
                        ef: int) -> tuple[Keys, Scores]:
        wanted = np.unique(check_keys(allowed))
        wanted = wanted[wanted >= 0]
        m, n = len(wanted), len(self)
        if m <= EXACT_ALLOWED_MIN or m * m <= EXACT_ALLOWED * k * n:
            return self._score_exactly(q, k, wanted)
        # Many allowed keys: oversample the graphs by how rare they are, then filter. Keys in
        # ``allowed`` but not in the index only make the first guess of ``count`` too small.
        count = min(n, math.ceil(k * OVERSAMPLE * n / m))
        while True:
            keys, scores = self._search_graphs(q, count, ef, exact=count >= n)
            keep = np.isin(keys, wanted)
            if keep.sum() >= k or count >= n:
                return keys[keep][:k], scores[keep][:k]
            count = min(n, 4 * count)

    def _score_exactly(self, q: np.ndarray, k: int, wanted: np.ndarray) -> tuple[Keys, Scores]:
        """The best ``k`` of the keys of ``wanted`` that the index holds, scored exactly."""
        found, rows = [], []
        for segment in self.segments if len(wanted) else ():
            here = wanted[segment.graph.contains(wanted)]
            if len(here):  # each segment's keys and vectors, read in one pass
                found.append(here)
                rows.append(_vectors_of(segment.graph, here))
        if not found:
            return _empty()
        keys = np.concatenate(found)
        scores = inner(np.concatenate(rows), q)
        best = top_k(scores, k)
        return keys[best], scores[best]

    @staticmethod
    def _writable(segment: Segment) -> Segment:
        """``segment``, its graph copied into memory first if it is a read-only map."""
        if segment.source is not None:
            segment.graph, segment.source = segment.graph.copy(), None
        return segment


def compact_if_sparse(segment: Segment, new_graph: Callable[[], Index]) -> None:
    """Rebuild ``segment``'s graph from its live nodes once its deleted ones are many."""
    if segment.deleted <= max(1_000, COMPACT_AFTER * len(segment.graph)):
        return
    graph = new_graph()
    keys = np.asarray(segment.graph.keys[:], dtype=np.uint64)
    if len(keys):
        graph.add(keys, _vectors_of(segment.graph, keys), threads=os.cpu_count() or 1)
    segment.graph, segment.deleted = graph, 0


def segment_file(number: int) -> str:
    return f"segment-{number}.usearch"


def segment_entry(name: str, count: int, deleted: int) -> dict[str, Any]:
    return {"file": name, "count": count, "deleted": deleted}


def write_index_params(directory: Path, settings: dict[str, int],
                       files: list[dict[str, Any]]) -> None:
    write_params(directory, {
        "kind": HnswIndex.kind, **settings, "library": "usearch", "segments": files,
        "count": sum(entry["count"] for entry in files),
        "deleted": sum(entry["deleted"] for entry in files)})


def segment_list(params: dict[str, Any], directory: Path) -> list[tuple[str, int, int]]:
    """(file, count, deleted) of each segment ``params.json`` lists; a copy saved before
    segments is one segment in ``index.usearch``."""
    entries = params.get("segments")
    if entries is None:
        entries = [{"file": _LEGACY_FILE, "count": params.get("count"),
                    "deleted": params.get("deleted")}]
    if not isinstance(entries, list):
        raise StoreError(f"{directory}/params.json: segments is {entries!r}, expected a list; "
                         "rebuild the index")
    listed = []
    for entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "/" in name:
            raise StoreError(f"{directory}/params.json lists a bad segment {entry!r}; rebuild "
                             "the index")
        listed.append((name, param_int(entry, "count", directory),
                       param_int(entry, "deleted", directory)))
    total = param_int(params, "count", directory)
    if sum(count for _, count, _ in listed) != total:
        raise StoreError(f"{directory}/params.json: count is {total}, but its segments hold "
                         f"{sum(count for _, count, _ in listed)}; rebuild the index")
    return listed


def save_graph(graph: Index, path: Path) -> None:
    """Write ``graph`` to ``path`` through a temporary file (readers may map the old one)."""
    temp = path.with_name(path.name + ".tmp")
    graph.save(str(temp))
    os.replace(temp, path)


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` holding ``source``'s bytes: a hard link where the file system allows it. A
    segment's file never changes once written, so two copies of an index may share it."""
    if target.exists():
        if target.samefile(source):
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _search_graph(graph: Index, q: np.ndarray, k: int, ef: int,
                  exact: bool) -> tuple[Keys, Scores]:
    # usearch declares the setter apart from its property, which mypy reads as read-only.
    graph.expansion_search = max(ef, k)  # type: ignore[misc]
    matches: Any = graph.search(q, k, threads=1, exact=exact)
    keys = np.asarray(matches.keys).astype(np.int64)
    return keys, (1.0 - np.asarray(matches.distances)).astype(np.float32)


def _vectors_of(graph: Index, keys: np.ndarray) -> np.ndarray:
    """The stored vectors of ``keys``, all present, as one float32 matrix."""
    rows = cast(tuple[np.ndarray, ...], graph.get(keys))
    return np.stack(rows).astype(np.float32, copy=False)


def restore_graph(path: Path, mmap: bool) -> Index:
    if not path.is_file():
        raise StoreError(f"{path} is missing; rebuild the index")
    try:
        graph = usearch_index().restore(str(path), view=mmap)
    except (ValueError, RuntimeError, OSError) as exc:
        raise StoreError(f"{path} is unreadable ({exc}); rebuild the index") from None
    if graph is None:
        raise StoreError(f"{path} is not a usearch index; rebuild the index")
    return graph


def check_restored(graph: Index, dim: int, count: int, path: Path) -> None:
    if graph.ndim != dim or graph.metric_kind != _metric_ip() or len(graph) != count:
        raise StoreError(f"{path} holds {len(graph)} vectors of dimension "
                         f"{graph.ndim} ({graph.metric_kind}), but params.json says {count} of "
                         f"dimension {dim} (inner product); rebuild the index")


def check_non_negative(keys: np.ndarray) -> None:
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
