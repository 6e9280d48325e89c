"""The store's seams: ``Store`` (the durable truth) and ``VectorIndex`` (nearest neighbours
over its integer chunk keys), with the values that cross them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from lore.store.metadata import MetadataRows
from lore.types import Chunk, Document, Filter

VectorSource = Callable[[np.ndarray], np.ndarray]
"""Full vectors by key: given int64 keys, their float32 rows ``(len(keys), dim)`` in that order.

The store is the source (``Store.vectors_by_rowid``); compressed indexes use it to re-score
their shortlist exactly. Every key it is asked for is one the index holds; a key the source does
not know raises ``StoreError``."""


class VectorIndex(Protocol):
    """An exact or approximate nearest-neighbour index over unit vectors, keyed by int64.

    Contract (checked by ``lore.testing.index_contract.VectorIndexContract``):

    - Keys are non-negative int64 (the store's chunk rowids); vectors are float32 rows of
      length ``dim``, unit-normalised by the caller.
    - ``add`` inserts or replaces vectors under ``keys``; ``remove`` drops keys (unknown keys
      are ignored). Scores are inner products, higher is closer.
    - ``search`` returns ``(keys, scores)`` best first, at most ``k`` of each; when ``allowed``
      is given only those keys may be returned (filtered search).
    - ``save(dir)`` writes ``params.json`` plus data files; ``load(dir)`` restores an equal index.
      An index is derived data: it can always be rebuilt from the store.
    """

    kind: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, keys: np.ndarray) -> None: ...

    def search(self, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: Path) -> None: ...


@runtime_checkable
class HoldsVectors(Protocol):
    """An index that keeps every vector whole (exact, HNSW): reading candidates' vectors from
    it in memory spares a store read."""

    def vectors_of(self, keys: np.ndarray) -> np.ndarray:
        """The vectors of ``keys``, one float32 row each, in that order; ``StoreError`` when
        a key is not in the index."""
        ...


@runtime_checkable
class Rescoring(Protocol):
    """An index that keeps compressed codes and re-scores its shortlist from a ``VectorSource``.

    ``rescore_source`` is set by whoever owns the full vectors (``VectorFeed`` attaches the
    store); it is not saved with the index. Without it, search returns approximate scores.
    """

    rescore_source: VectorSource | None


# -- the Store seam ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the store remembers of a source file, to skip it when unchanged."""

    path: str
    size: int
    mtime: float
    hash: str


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """A document with its chunks and each chunk's analysed terms, written together."""

    document: Document
    chunks: Sequence[Chunk]
    terms: Sequence[str]
    """Space-joined analysed terms of each chunk's view, in chunk order."""


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk read back from the store, with the document fields a hit displays."""

    rowid: int
    chunk: Chunk
    path: str
    title: str
    doc_key: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``Store.write`` changed."""

    chunks_added: int
    chunks_removed: int


class Store(Protocol):
    """The one durable truth: files, documents, chunks, vectors, analysed terms, a change log.

    Contract (checked by ``lore.testing.store_contract.StoreContract``):

    - Identity. A document is keyed by ``Document.id``, a chunk by an int64 ``rowid`` the store
      assigns: a write's new chunks of one document get increasing rowids in the order given.
      A removed chunk's rowid may be given again later (the change log says so in order).
    - One write path. ``write`` applies its whole batch atomically: after a crash (the process
      killed at any instant) either all of it is there or none. Once it returns, it is durable.
      Each other method that writes is atomic too. Writing a document whose chunks are
      unchanged (same ``Chunk.id`` and ``view_hash``) keeps their rows: nothing is logged.
    - Isolation. Readers in other threads and processes, opening a store included, see the
      state before or after a write, never part of it, and are never blocked into an error
      by a writer. A read over all rows (counts, ``file_paths``, ``chunk_terms()``,
      ``changes_since``, ``filtered_rowids``) answers from one state; a read of many given
      rowids may be answered in batches. Threads may share one store object.
    - Change log. Every chunk a write adds is logged ``(seq, rowid, True)`` and every chunk it
      removes ``(seq, rowid, False)``, with ``seq`` increasing and never reused, even after
      ``trim_changes`` and reopening. Replaying the log in order gives the current chunks:
      derived indexes (``lore.store.derived``) catch up this way.
    - Vectors are content-addressed by the chunk's ``view_hash``; equal views share one.
    - Meta is a string map. The store itself writes ``last_update`` (time of the last write
      that changed documents) and ``changes_floor`` (see ``trim_changes``); derived indexes
      keep ``derived:<name>`` tokens there.
    - Schema. Opening a location migrates it to ``schema_version``; a location written by a
      newer schema is refused with ``SchemaVersionError`` naming both versions, unchanged.
    - Read-only. A store opened read-only (or that this process may not change) reads
      normally; every writing method raises ``StoreError`` saying why, as
      ``require_writable`` does.
    - Filters. ``Filter`` fields are ANDed, values within a field ORed. ``paths`` are globs
      (``*`` and ``?`` match ``/`` too, ``[...]`` a class, case-sensitive) over the
      document path; a relative pattern also matches any path ending in ``/`` + pattern.
      ``modified_after`` is inclusive, ``modified_before`` exclusive, over ``Document.mtime``.
    - Methods that take rowids or ids skip the unknown ones, unless they say otherwise.

    >>> store: Store = SqliteStore(None)
    >>> store.write([DocumentWrite(document, chunks, terms)], files=[record])
    WriteResult(chunks_added=2, chunks_removed=0)
    >>> store.changes_since(0)
    [(1, 1, True), (2, 2, True)]
    """

    @property
    def schema_version(self) -> int:
        """The schema version this store is at: the newest this code writes."""
        ...

    @property
    def location(self) -> str:
        """Where it lives, for people to read: a file path, ``:memory:``, or a database URL
        with its password hidden."""
        ...

    def close(self) -> None: ...

    def require_writable(self) -> None:
        """Raise a ``StoreError`` saying why, when this process may not change the store."""

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Insert or overwrite every key, atomically."""

    # -- files and documents ------------------------------------------------------------------

    def file_record(self, path: str) -> FileRecord | None: ...

    def file_paths(self) -> list[str]:
        """Paths of every file record, sorted."""
        ...

    def document_hashes(self, path: str) -> dict[str, str]:
        """``{Document.id: content_hash}`` of every document whose path is ``path``."""
        ...

    def embedded_views(self, path: str) -> list[str]:
        """View hashes of the chunks of the documents whose path is ``path`` that have a
        vector: what reading the file again need not embed again."""
        ...

    def write(self, documents: Sequence[DocumentWrite], files: Sequence[FileRecord] = (),
              removed_documents: Sequence[str] = (), removed_files: Sequence[str] = ()
              ) -> WriteResult:
        """Apply one batch atomically, in this order: remove documents by id, remove files
        (their records and every document with that path), replace or add documents (their
        chunks not kept are removed), upsert file records."""
        ...

    # -- vectors ------------------------------------------------------------------------------

    def missing_vectors(self, hashes: Sequence[str]) -> list[str]:
        """The subset of ``hashes`` with no stored vector, in input order, deduplicated."""
        ...

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store float32 rows under their view hashes; a hash already stored keeps its vector."""

    def drop_orphan_vectors(self) -> None:
        """Forget vectors that no chunk's view hash names."""

    def switch_embedder(self, meta: Mapping[str, str]) -> None:
        """Set ``meta`` and forget every vector, atomically (the next embedder starts over)."""

    def views_without_vectors(self) -> list[tuple[str, str]]:
        """``(view_hash, view)`` of stored chunks that have no vector, each hash once."""
        ...

    def chunk_vectors(self, rowids: Sequence[int] | None = None,
                      dim: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, matrix)``: int64 chunk rowids (all, or those given) paired with float32
        rows of their vectors, in no set order; chunks without a vector are left out, and
        none gives a ``(0, dim)`` matrix."""
        ...

    def vectors_by_rowid(self, rowids: np.ndarray, dim: int) -> np.ndarray:
        """The vectors of chunk ``rowids`` as ``(len(rowids), dim)`` float32, in the order given
        (repeats allowed): the exact re-scoring source of compressed indexes.

        Raises:
            StoreError: a rowid has no chunk or no vector.
        """
        ...

    # -- terms, reading chunks ----------------------------------------------------------------

    def chunk_terms(self, rowids: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
        """``(keys, texts)``: chunk rowids (all, or those given) and their terms as written,
        in no set order."""
        ...

    def filtered_rowids(self, conditions: Filter) -> np.ndarray:
        """Unique int64 rowids of the chunks that pass ``conditions``, in rising order (the
        derived indexes are written in it, and a writer given rows out of order sorts them in
        memory); an empty filter passes every chunk."""
        ...

    def chunks(self, rowids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks of these rowids, equal to the ``Chunk`` written, by rowid."""
        ...

    def chunk_rowids(self, ids: Sequence[str]) -> dict[str, int]:
        """The rowids of the chunks with these ``Chunk.id`` values, by id (an unknown id is
        left out)."""
        ...

    def chunk_kinds(self, rowids: Sequence[int]) -> list[str]:
        """``code`` or ``prose`` for each of these chunks that exists (order not kept)."""
        ...

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The normalised text of these documents, which chunk spans index into."""
        ...

    # -- change log -----------------------------------------------------------------------------

    def last_change(self) -> int:
        """The highest ``seq`` ever logged (kept after trimming); 0 for a new store."""
        ...

    def changes_since(self, seq: int) -> list[tuple[int, int, bool]]:
        """``(seq, rowid, added)`` of every logged change after ``seq``, in ``seq`` order."""
        ...

    def trim_changes(self, upto: int) -> None:
        """Forget changes up to ``upto`` (saved indexes hold them) and record the floor as
        meta ``changes_floor``, atomically: an index older than it must be rebuilt."""

    # -- statistics -----------------------------------------------------------------------------

    def metadata(self, statement: str, row_limit: int, seconds: float) -> MetadataRows:
        """One read-only SELECT over the ``documents`` view of the collection's files
        (``lore.store.metadata.SCHEMA``), on a connection that can write nothing, cut to
        ``row_limit`` rows and ``seconds``; ``QueryError`` for anything else."""
        ...

    def document_count(self) -> int: ...

    def chunk_count(self) -> int: ...

    def vector_count(self) -> int:
        """Stored vectors, orphans included."""
        ...

    def size_bytes(self) -> int:
        """Space the store takes where it lives; 0 when it lives nowhere (in memory)."""
        ...


class StoreOpener(Protocol):
    """Opens the store at a location (a file, a database URL), creating or migrating it.

    ``read_only`` opens it so that nothing can be written; without it a store is still
    read-only when this process may not write there. The contract suite opens stores in
    child processes too, so an opener given to it must be picklable (a class, or a function
    at module level).
    """

    def __call__(self, location: str, /, *, read_only: bool = False) -> Store: ...
