"""Writing an HNSW index into a folder a segment at a time, never holding the whole of it.

``lore index`` saves its vector index through this writer (``VectorFeed.write``): the rows of
the previous copy are carried over from disk, less the chunks changed since, and the rest are
added from the store. Only the segment being filled is in memory; a full one is written and
dropped. What it writes is what ``HnswIndex.save`` writes, and ``HnswIndex.load`` reads it.

Carrying a segment the changes did not touch links its file; a touched one is read into
memory alone, its changed keys removed, and written again. The last segment, when not full,
is read into memory to take the new rows, so a collection grown a few files at a time keeps
one partial segment, not one per run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lore.store.flat import check_batch, read_params
from lore.store.hnsw import (
    HnswIndex,
    Segment,
    check_non_negative,
    compact_if_sparse,
    link_or_copy,
    restore_graph,
    save_graph,
    segment_entry,
    segment_file,
    segment_list,
    write_index_params,
)


class HnswWriter:
    """Writes an HNSW index into ``directory``: ``carry`` an earlier copy (optional), ``add``
    rows, then ``finish``.

    >>> writer = HnswWriter(staging, HnswIndex(dim=384))
    >>> writer.carry(previous, dropped=changed_keys)
    >>> writer.add(keys, vectors)
    >>> writer.finish()
    """

    def __init__(self, directory: Path, shape: HnswIndex) -> None:
        self._directory = directory
        self._shape = shape
        """An empty index whose settings every segment is built with."""
        self._files: list[dict[str, Any]] = []
        self._open: Segment | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def carry(self, earlier: Path, dropped: np.ndarray) -> None:
        """Take the segments of the copy saved in ``earlier``, less the keys ``dropped``."""
        dropped = np.unique(dropped.astype(np.int64))
        listed = segment_list(read_params(earlier, HnswIndex.kind), earlier)
        for number, (name, count, deleted) in enumerate(listed):
            last = number == len(listed) - 1
            graph = restore_graph(earlier / name, mmap=True)
            gone = dropped[graph.contains(dropped)] if len(dropped) else dropped
            if not len(gone) and not (last and count + deleted < self._shape.segment_size):
                self._link(earlier / name, count, deleted)
                continue
            segment = Segment(graph.copy(), deleted)
            del graph  # the map, before the next segment's
            if len(gone):
                segment.graph.remove(gone)
                segment.deleted += len(gone)
                compact_if_sparse(segment, self._shape.new_graph)
            if last and segment.nodes < self._shape.segment_size:
                self._open = segment
            elif len(segment.graph):
                self._write(segment)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows whose keys the index does not hold (the carried copy's dropped ones may
        come back)."""
        keys, vectors = check_batch(keys, vectors, self._shape.dim)
        check_non_negative(keys)
        start = 0
        while start < len(keys):
            if self._open is None:
                self._open = Segment(self._shape.new_graph())
            stop = start + self._shape.segment_size - self._open.nodes
            self._open.graph.add(keys[start:stop], vectors[start:stop],
                                 threads=os.cpu_count() or 1)
            start = stop
            if self._open.nodes >= self._shape.segment_size:
                self._write(self._open)
                self._open = None

    def finish(self) -> None:
        """Write the open segment and ``params.json``: the folder is then a complete index."""
        if self._open is not None and len(self._open.graph):
            self._write(self._open)
        self._open = None
        write_index_params(self._directory, self._shape.settings(), self._files)

    def _write(self, segment: Segment) -> None:
        path = self._directory / segment_file(len(self._files))
        save_graph(segment.graph, path)
        self._files.append(segment_entry(path.name, len(segment.graph), segment.deleted))

    def _link(self, source: Path, count: int, deleted: int) -> None:
        path = self._directory / segment_file(len(self._files))
        link_or_copy(source, path)
        self._files.append(segment_entry(path.name, count, deleted))

