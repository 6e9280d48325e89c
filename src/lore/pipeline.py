"""The index run: files -> documents -> chunks -> vectors -> store, incrementally and safely.

Part of the wiring layer beside ``api.py``: it composes ingest, embed, analysis and store.

Crash safety comes from ordering. Vectors are content-addressed (keyed by the hash of the view
they embed) and committed as soon as each model batch finishes, so no embedding work is lost. A
document, its chunks and their full-text terms are committed in one transaction, and only after
every vector they need is stored; only then is the document reported indexed. A file's record
(size, mtime, hash), which lets the next run skip it, is written in the same transaction as its
last document, so an interrupted file is parsed again next time and its already-committed
documents are recognised by their content hash and skipped.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from lore._native import release_freed_memory
from lore.config import IngestConfig
from lore.embed.protocol import Embedder
from lore.errors import IngestError, os_error_reason
from lore.ingest.chunk import chunk_documents
from lore.ingest.parse import StreamedFile, read_file
from lore.ingest.walk import discover, within
from lore.store.protocol import DocumentWrite, FileRecord, Store
from lore.text.analyze import analyze
from lore.types import Chunk, Document, IndexReport, Skipped

EMBED_WINDOW = 2048
"""Views sorted by token count together, so the model's batches pad little."""
EMBED_SLICE = 128
"""Views per model call: the grain of progress reports and of vector commits."""
PENDING_LIMIT = 8_192
"""Views parsed ahead of the model at most (four sorting windows): what a run holds, whatever
the corpus. A larger limit only held more (docs/indexing.md#memory-and-scale)."""
STREAM_BATCH = 1_000
"""Documents of a large JSONL file parsed and chunked at a time."""


class IndexListener(Protocol):
    """Receives progress; the CLI draws bars from it. Every method is optional to act on."""

    def on_scanned(self, files: int) -> None: ...
    def on_file(self, path: str) -> None: ...
    def on_to_embed(self, views: int) -> None: ...
    def on_embedded(self, views: int) -> None: ...
    def on_indexed(self, document: Document, chunks: int) -> None: ...
    def on_skipped(self, skipped: Skipped) -> None: ...
    def on_concepts(self, done: int, total: int) -> None:
        """Chunks whose concepts the graph has read, of those that needed reading."""


class SilentListener:
    def on_scanned(self, files: int) -> None: pass
    def on_file(self, path: str) -> None: pass
    def on_to_embed(self, views: int) -> None: pass
    def on_embedded(self, views: int) -> None: pass
    def on_indexed(self, document: Document, chunks: int) -> None: pass
    def on_skipped(self, skipped: Skipped) -> None: pass
    def on_concepts(self, done: int, total: int) -> None: pass


@dataclass
class PendingFile:
    """A file being read: its record is written with its last document."""

    record: FileRecord
    removed_documents: list[str] = field(default_factory=list)
    waiting: int = 0
    """Documents of this file queued and not yet written."""
    closed: bool = False
    """Every document of the file is queued (a streamed file's are queued batch by batch):
    once none is waiting, the file's record can be written."""


@dataclass
class _PendingDocument:
    document: Document
    chunks: list[Chunk]
    file: PendingFile
    replaces: bool
    missing: set[str] = field(default_factory=set)


@dataclass
class _Counts:
    files_seen: int = 0
    files_unchanged: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredRoot:
    """Files under the folder ``local`` are known to the store as under ``stored``.

    For a folder that has a copy on each of several machines writing one store (a server
    replica's uploads): every copy then names its files, and so its documents, alike.
    ``stored`` is an absolute POSIX path that need not exist.
    """

    local: str
    """A resolved folder."""
    stored: str

    def stored_name(self, resolved: str) -> str:
        return self.stored + resolved[len(self.local):] if within(resolved, [self.local]) \
            else resolved

    def local_name(self, stored: str) -> str:
        return self.local + stored[len(self.stored):] if within(stored, [self.stored]) \
            else stored


class IndexRun:
    """One pass over the given roots. Create, call ``run``, read the report."""

    def __init__(self, store: Store, embedder: Embedder, config: IngestConfig,
                 listener: IndexListener | None = None, reparse: bool = False,
                 stored_as: StoredRoot | None = None) -> None:
        self.reparse = reparse
        """Parse and chunk every file again though unchanged (the chunker or its settings
        changed); views that come out the same keep their vectors."""
        self._stored_as = stored_as
        self._store = store
        self._embedder = embedder
        self._config = config
        self._listener = listener or SilentListener()
        self._counts = _Counts()
        self._queue: list[_PendingDocument] = []
        self.visited: set[str] = set()
        """Resolved paths of every file this run looked at."""
        self._queued_views: dict[str, str] = {}

    def run(self, roots: Sequence[Path]) -> IndexReport:
        started = time.perf_counter()
        roots = [r.expanduser() for r in roots]
        files = list(discover(roots, self._config, on_skip=self._skip))
        self._listener.on_scanned(len(files))
        inside = [str(root.resolve()) for root in roots]
        keys = [self._stored_name(_file_key(path, inside)) for path in files]
        self._read(files, keys)
        self.visited = set(keys)
        self._remove_vanished(roots, self.visited)
        self._counts.embedded += embed_missing(self._store, self._embedder, self._listener)
        self._store.drop_orphan_vectors()
        return self._report(time.perf_counter() - started)

    # -- reading files ---------------------------------------------------------------------

    def _read(self, files: Sequence[Path], keys: Sequence[str]) -> None:
        """Parse, chunk, embed and write every file that changed. ``keys`` are what the store
        calls ``files``."""
        for path, key in zip(files, keys, strict=True):
            self._visit(path, key)
            if len(self._queued_views) >= PENDING_LIMIT:
                self._drain()
        self._drain()

    def _visit(self, path: Path, resolved: str) -> None:
        record = self._check(path, resolved)
        if record is None:
            return
        try:
            read = read_file(path.resolve(), self._config.max_file_bytes, STREAM_BATCH)
        except IngestError as error:
            self._skip(Skipped(resolved, error.reason))
            return
        if isinstance(read, StreamedFile):
            self._accept_streamed(record, read)
        else:
            self._accept(record, read.documents, read.warnings)

    def _check(self, path: Path, resolved: str) -> FileRecord | None:
        """The file's new record when it must be read again; None when it is unchanged or
        cannot be read (counted and reported)."""
        self._counts.files_seen += 1
        self._listener.on_file(resolved)
        try:
            record = self._changed_record(path, resolved)
        except IngestError as error:
            self._skip(Skipped(resolved, error.reason))
            return None
        if record is None:
            self._counts.files_unchanged += 1
        return record

    def _accept(self, record: FileRecord, documents: Sequence[Document], warnings: Sequence[str],
                chunked: Sequence[list[Chunk]] | None = None) -> None:
        """Queue a parsed file's documents for writing; ``chunked`` holds their chunks when
        they were made elsewhere."""
        for warning in warnings:
            self._skip(Skipped(record.path, warning))
        self._plan(record, self._named(documents, record.path), chunked)

    def _accept_streamed(self, record: FileRecord, streamed: StreamedFile) -> None:
        """Queue a large file's documents a batch at a time, draining as the queue fills; the
        file's record is written only when the last batch has been read and written."""
        for warning in streamed.warnings:
            self._skip(Skipped(record.path, warning))
        known = self._store.document_hashes(record.path)
        pending = PendingFile(record)
        kept: set[str] = set()
        try:
            for batch in streamed.batches:
                kept |= self._queue_fresh(pending, known, self._named(batch, record.path))
                if len(self._queued_views) >= PENDING_LIMIT:
                    self._drain()
        except IngestError as error:  # its written documents stay; the file is read again
            self._skip(Skipped(record.path, error.reason))
            return
        self._close(pending, known, kept)

    def _named(self, documents: Sequence[Document], key: str) -> list[Document]:
        """``documents`` of a file named as the store names the file."""
        if self._stored_as is None:
            return list(documents)
        return [replace(d, path=key) for d in documents]

    def _changed_record(self, path: Path, resolved: str) -> FileRecord | None:
        """The file's new record, or None when its content is what the store already has."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise IngestError(resolved, f"cannot read: {os_error_reason(exc)}") from None
        known = self._store.file_record(resolved)
        if self.reparse:
            return FileRecord(resolved, stat.st_size, stat.st_mtime, _hash_file(path, resolved))
        if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
            return None
        if stat.st_size > self._config.max_file_bytes:
            return FileRecord(resolved, stat.st_size, stat.st_mtime, "")  # parse_file reports it
        digest = _hash_file(path, resolved)
        record = FileRecord(resolved, stat.st_size, stat.st_mtime, digest)
        if known and known.hash == digest:
            self._store.write([], files=[record])  # touched, not changed: remember the mtime
            return None
        return record

    def _plan(self, record: FileRecord, documents: list[Document],
              chunked: Sequence[list[Chunk]] | None = None) -> None:
        known = self._store.document_hashes(record.path)
        pending = PendingFile(record)
        self._close(pending, known, self._queue_fresh(pending, known, documents, chunked))

    def _queue_fresh(self, pending: PendingFile, known: dict[str, str],
                     documents: list[Document], chunked: Sequence[list[Chunk]] | None = None
                     ) -> set[str]:
        """Chunk and queue the documents the store lacks in this version; returns the ids of
        all of them."""
        positions = {d.id: i for i, d in enumerate(documents)}  # a repeated id: last wins
        unique = [documents[i] for i in positions.values()]
        fresh = [d for d in unique if self.reparse or known.get(d.id) != d.content_hash]
        if not fresh:
            return set(positions)
        made = (chunk_file(fresh, self._embedder, self._config) if chunked is None
                else [chunked[positions[d.id]] for d in fresh])
        pending.waiting += len(fresh)
        for document, chunks in zip(fresh, made, strict=True):
            item = _PendingDocument(document, chunks, pending, replaces=document.id in known)
            self._queue.append(item)
            for chunk in chunks:
                self._queued_views.setdefault(chunk.view_hash, chunk.view)
        return set(positions)

    def _close(self, pending: PendingFile, known: dict[str, str], kept: set[str]) -> None:
        """Every document of the file is queued: the stored ones it no longer has go with
        its record, written now if nothing of it is waiting, else with its last document."""
        pending.removed_documents = [i for i in known if i not in kept]
        self._counts.removed += len(pending.removed_documents)
        pending.closed = True
        if pending.waiting == 0:
            self._write([], [pending])

    # -- embedding and writing ---------------------------------------------------------------

    def _drain(self) -> None:
        if not self._queue:
            return
        missing = set(self._store.missing_vectors(list(self._queued_views)))
        for item in self._queue:
            item.missing = {c.view_hash for c in item.chunks} & missing
        todo = [(h, self._queued_views[h]) for h in self._queued_views if h in missing]
        self._listener.on_to_embed(len(todo))
        self._write_complete()
        self._counts.embedded += embed_views(self._store, self._embedder, todo, self._listener,
                                             self._stored)
        self._queue, self._queued_views = [], {}

    def _stored(self, hashes: set[str]) -> None:
        """Vectors for ``hashes`` are committed: write every document that now has all."""
        for item in self._queue:
            item.missing -= hashes
        self._write_complete()

    def _write_complete(self) -> None:
        ready = [item for item in self._queue if not item.missing]
        if not ready:
            return
        self._queue = [item for item in self._queue if item.missing]
        files = []
        for item in ready:
            item.file.waiting -= 1
            if item.file.waiting == 0 and item.file.closed:
                files.append(item.file)
        self._write(ready, files)

    def _write(self, ready: list[_PendingDocument], files: list[PendingFile]) -> None:
        writes = [DocumentWrite(i.document, i.chunks, [" ".join(analyze(c.view)) for c in i.chunks])
                  for i in ready]
        result = self._store.write(
            writes, files=[f.record for f in files],
            removed_documents=[d for f in files for d in f.removed_documents])
        self._counts.chunks_added += result.chunks_added
        self._counts.chunks_removed += result.chunks_removed
        for item in ready:
            if item.replaces:
                self._counts.updated += 1
            else:
                self._counts.added += 1
            self._listener.on_indexed(item.document, len(item.chunks))

    # -- removals and reporting --------------------------------------------------------------

    def _remove_vanished(self, roots: Iterable[Path], seen: set[str]) -> None:
        """Forget files under the roots that no longer exist on disk."""
        prefixes = [self._stored_name(str(r.expanduser().resolve())) for r in roots]
        gone = [p for p in self._store.file_paths() if p not in seen and within(p, prefixes)
                and not os.path.exists(self._local_name(p))]
        if gone:
            before = self._store.document_count()
            result = self._store.write([], removed_files=gone)
            self._counts.removed += before - self._store.document_count()
            self._counts.chunks_removed += result.chunks_removed

    def _stored_name(self, resolved: str) -> str:
        return self._stored_as.stored_name(resolved) if self._stored_as else resolved

    def _local_name(self, stored: str) -> str:
        return self._stored_as.local_name(stored) if self._stored_as else stored

    def _skip(self, skipped: Skipped) -> None:
        self._counts.skipped.append(skipped)
        self._listener.on_skipped(skipped)

    def _report(self, seconds: float) -> IndexReport:
        c = self._counts
        return IndexReport(
            files_seen=c.files_seen, files_unchanged=c.files_unchanged, documents_added=c.added,
            documents_updated=c.updated, documents_removed=c.removed,
            chunks_added=c.chunks_added, chunks_removed=c.chunks_removed,
            chunks_embedded=c.embedded, skipped=tuple(c.skipped), seconds=seconds)


def chunk_file(documents: Sequence[Document], embedder: Embedder, config: IngestConfig
               ) -> list[list[Chunk]]:
    """The chunks of each of a file's documents, sized by the embedder's tokens."""
    budget = min(config.chunk_tokens, embedder.max_tokens)
    overlap = min(config.overlap_tokens, budget // 4)
    # One call for all records of a file: the tokenizer's cost per call dominates.
    return chunk_documents(documents, embedder.count_tokens, budget, overlap, config.code_view)


def sort_by_tokens(views: list[tuple[str, str]], embedder: Embedder) -> list[tuple[str, str]]:
    """Order ``(hash, view)`` pairs by token count, so each model batch pads little.

    Character length is a poor proxy: on SciFact, slices sorted by characters took 27% longer
    to embed than slices sorted by tokens, which come within 2% of one globally sorted call.
    """
    counts = embedder.count_tokens([view for _, view in views])
    order = sorted(range(len(views)), key=counts.__getitem__)
    return [views[i] for i in order]


def embed_views(store: Store, embedder: Embedder, views: list[tuple[str, str]],
                listener: IndexListener,
                on_stored: Callable[[set[str]], None] | None = None) -> int:
    """Embed ``(hash, view)`` pairs and commit each slice's vectors as soon as it is done;
    ``on_stored`` hears which hashes were committed. Returns how many were embedded."""
    for start in range(0, len(views), EMBED_WINDOW):
        window = sort_by_tokens(views[start:start + EMBED_WINDOW], embedder)
        for piece_start in range(0, len(window), EMBED_SLICE):
            piece = window[piece_start:piece_start + EMBED_SLICE]
            hashes = [h for h, _ in piece]
            store.put_vectors(hashes, embedder.embed_documents([v for _, v in piece]))
            release_freed_memory()
            listener.on_embedded(len(piece))
            if on_stored is not None:
                on_stored(set(hashes))
    return len(views)


def embed_missing(store: Store, embedder: Embedder, listener: IndexListener) -> int:
    """Embed every stored chunk view that has no vector; returns how many were embedded.

    Normally there are none. After ``reembed`` (or a crash during one) this is the whole work.
    """
    missing = store.views_without_vectors()
    if missing:
        listener.on_to_embed(len(missing))
    return embed_views(store, embedder, missing, listener)


def _file_key(path: Path, inside: Sequence[str]) -> str:
    """What the store calls a file: its resolved path, or, for a file reached through a
    symlink that leaves the roots (followed on request), the link's own path, so that
    ``lore rm`` of the folder removes it too."""
    resolved = str(path.resolve())
    return resolved if within(resolved, inside) else str(path.absolute())


def _hash_file(path: Path, name: str, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for piece in iter(lambda: handle.read(block), b""):
                digest.update(piece)
    except OSError as exc:
        raise IngestError(name, f"cannot read: {os_error_reason(exc)}") from None
    return digest.hexdigest()
