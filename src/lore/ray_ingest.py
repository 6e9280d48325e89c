"""Index on a Ray cluster: files are found here, then parsed, chunked and embedded in Ray Data,
and written to the store here as they come back.

Part of the wiring layer beside ``pipeline.py``, and imported only when asked for
(``lore index --ray``): nothing else imports Ray.

The dataset is the changed files. A few reading actors parse and chunk them (a JSONL file of
many records becomes one row per record, sent on in batches as they are chunked), then
``map_batches`` embeds batches of records on a pool of actors, each holding the model once (a
changed file's views that already have vectors in the store are skipped). This process takes
each record as it arrives: its vectors are committed at once (they are content-addressed) and
its document is queued for writing; a file's record is written with its last document, once all
of them have come. The store's guarantees hold unchanged: a run killed at any point loses
nothing reported indexed, and the next run does only what is missing. Ray retries a task or
actor whose worker died; a record that arrives twice is taken once.
"""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lore._native import release_freed_memory
from lore.config import EmbedConfig, IngestConfig
from lore.embed.protocol import Embedder
from lore.errors import ConfigError, IngestError
from lore.ingest.parse import ParsedFile, StreamedFile, read_file
from lore.pipeline import (
    IndexListener,
    IndexRun,
    PendingFile,
    StoredRoot,
    chunk_file,
    sort_by_tokens,
)
from lore.store.protocol import FileRecord, Store
from lore.types import Document, Skipped

INSTALL = 'pip install "lore[ray]"'
WRITE_EVERY = 1024
"""Chunks of complete files held before they are written."""
READERS_PER = 4
"""Embedding actors per reading actor."""
BLOCK_BYTES = 256 * 1024
"""Ray Data's largest block: about one batch of records with their chunks and vectors."""


@dataclass(frozen=True, slots=True)
class RaySettings:
    """Where and how widely to index on Ray."""

    address: str = "auto"
    """``auto``: ``RAY_ADDRESS`` or a cluster running on this machine, else a new one here;
    ``local``: always a new one here; or a cluster's address (``ray://head:10001``)."""
    actors: int | None = None
    """Embedding actors; None: one per CPU of the cluster."""
    threads: int = 1
    """Threads each actor's model uses."""
    batch: int = 64
    """Records embedded together by one actor call."""


class RayIndexRun(IndexRun):
    """An ``IndexRun`` whose parsing, chunking and embedding run on Ray."""

    def __init__(self, store: Store, embedder: Embedder, config: IngestConfig,
                 listener: IndexListener | None, reparse: bool, stored_as: StoredRoot | None,
                 *, settings: RaySettings, embed_config: EmbedConfig) -> None:
        super().__init__(store, embedder, config, listener, reparse, stored_as)
        self._settings = settings
        self._embed_config = embed_config
        self._arriving: dict[str, _ArrivingFile] = {}

    def _read(self, files: Sequence[Path], keys: Sequence[str]) -> None:
        for path, key in zip(files, keys, strict=True):
            record = self._check(path, key)
            if record is not None:
                self._arriving[key] = _ArrivingFile(str(path.resolve()), record,
                                                    PendingFile(record))
        if not self._arriving:
            return
        with connected(self._settings.address):
            for row in self._rows():
                self._take(row)
        self._drain()

    def _rows(self) -> Iterator[dict[str, Any]]:
        import ray.data

        settings = self._settings
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        actors = settings.actors or max(1, int(cpus))
        # A changed file's views that the store has vectors for are not embedded again.
        items = [{"path": f.local, "key": key,
                  "embedded": self._store.embedded_views(f.record.path)}
                 for key, f in self._arriving.items()]
        context = ray.data.DataContext.get_current()
        # Each batch a reader or an actor yields is sent on as a block of its own, rather
        # than gathered into blocks of 128 MiB: one large file's records reach every actor.
        context.target_max_block_size = BLOCK_BYTES
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        # Readers claim no CPU, so that they run beside embedding actors holding every CPU;
        # they are few, as their work is a small part of the embedding's.
        dataset = ray.data.from_items(items).map_batches(
            FileReader, batch_size=1, batch_format="pyarrow", num_cpus=0,
            compute=ray.data.ActorPoolStrategy(size=max(1, actors // READERS_PER)),
            fn_constructor_kwargs={"ingest": self._config, "embed": self._embed_config,
                                   "rename": self._stored_as is not None,
                                   "batch": settings.batch}).map_batches(
            EmbeddingActor, batch_size=settings.batch, batch_format="pyarrow", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_kwargs={"embed": self._embed_config, "threads": settings.threads})
        yield from dataset.iter_rows()

    def _take(self, row: dict[str, Any]) -> None:
        arriving = self._arriving.get(row["key"])
        if arriving is None:
            return  # the file is already written: a retried task sent it again
        if row["kind"] == "file":
            count, warnings, error = pickle.loads(row["payload"])
            if error is not None:  # its queued documents stay; the file is read again
                del self._arriving[row["key"]]
                self._skip(Skipped(row["key"], error))
                return
            arriving.count = count
            for warning in warnings:
                self._skip(Skipped(arriving.record.path, warning))
        else:
            index, document, chunks, hashes, vectors = pickle.loads(row["payload"])
            self._store_vectors(hashes, vectors)
            if index not in arriving.seen:
                arriving.seen.add(index)
                arriving.kept |= self._queue_fresh(
                    arriving.pending, self._known(arriving),
                    self._named([document], arriving.record.path), [chunks])
        if arriving.complete:
            del self._arriving[row["key"]]
            self._close(arriving.pending, self._known(arriving), arriving.kept)
        if len(self._queued_views) >= WRITE_EVERY:
            self._drain()

    def _known(self, arriving: _ArrivingFile) -> dict[str, str]:
        """The file's documents in the store before this run, read when first needed."""
        if arriving.known is None:
            arriving.known = self._store.document_hashes(arriving.record.path)
        return arriving.known

    def _store_vectors(self, hashes: list[str], vectors: np.ndarray) -> None:
        self._listener.on_to_embed(len(hashes))
        missing = set(self._store.missing_vectors(hashes))
        keep = [i for i, h in enumerate(hashes) if h in missing]
        if keep:
            self._store.put_vectors([hashes[i] for i in keep], vectors[keep])
        self._counts.embedded += len(hashes)
        self._listener.on_embedded(len(hashes))


@dataclass
class _ArrivingFile:
    """A file whose documents come back from the cluster one by one, each queued for writing
    as it comes; the file's record is written after the last."""

    local: str
    record: FileRecord
    pending: PendingFile
    count: int | None = None
    """Its documents, once the file's own row has come."""
    seen: set[int] = field(default_factory=set)
    """The places in the file of the documents that came (a retried task sends some again)."""
    known: dict[str, str] | None = None
    kept: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return self.count is not None and len(self.seen) == self.count


# -- on the cluster ---------------------------------------------------------------------------


class FileReader:
    """Parses and chunks files; holds the embedder's tokenizer for its lifetime."""

    def __init__(self, ingest: IngestConfig, embed: EmbedConfig, rename: bool, batch: int
                 ) -> None:
        self.ingest, self.rename, self.batch = ingest, rename, batch
        self.embedder = _embedder(embed)

    def __call__(self, files: Any) -> Iterator[dict[str, list[Any]]]:
        """For each file, its documents with their chunks, ``batch`` at a time (so that
        embedding starts before a large file is read to its end), then the file's own row:
        how many documents, the parser's warnings, or why it could not be read."""
        for row in files.to_pylist():
            key, count, embedded = row["key"], 0, set(row["embedded"])
            try:
                read = read_file(Path(row["path"]), self.ingest.max_file_bytes, self.batch)
                for part in _parts(read, self.batch):  # a large JSONL file is read as it goes
                    part = [replace(d, path=key) for d in part] if self.rename else part
                    chunked = chunk_file(part, self.embedder, self.ingest)
                    yield _rows([_row(key, "document", (
                        count + i, document, chunks,
                        {c.view_hash for c in chunks} & embedded))
                        for i, (document, chunks) in enumerate(zip(part, chunked, strict=True))])
                    count += len(part)
            except IngestError as error:
                yield _rows([_row(key, "file", (0, [], error.reason))])
                continue
            yield _rows([_row(key, "file", (count, list(read.warnings), None))])


class EmbeddingActor:
    """Embeds the views of a batch of documents; holds the model for its lifetime."""

    def __init__(self, embed: EmbedConfig, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.embedder = _embedder(embed)

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        rows = batch.to_pylist()
        documents = {i: pickle.loads(r["payload"]) for i, r in enumerate(rows)
                     if r["kind"] == "document"}
        views = {c.view_hash: c.view for _, _, chunks, embedded in documents.values()
                 for c in chunks if c.view_hash not in embedded}
        ordered = sort_by_tokens(list(views.items()), self.embedder)
        vectors = self.embedder.embed_documents([v for _, v in ordered]) if ordered else None
        release_freed_memory()
        position = {h: i for i, (h, _) in enumerate(ordered)}
        for i, (index, document, chunks, embedded) in documents.items():
            hashes = list(dict.fromkeys(c.view_hash for c in chunks
                                        if c.view_hash not in embedded))
            mine = vectors[[position[h] for h in hashes]] if vectors is not None and hashes \
                else np.zeros((0, self.embedder.dim), np.float32)
            rows[i] = _row(rows[i]["key"], "document", (index, document, chunks, hashes, mine))
        return _rows(rows)


def _parts(read: ParsedFile | StreamedFile, size: int) -> Iterator[list[Document]]:
    if isinstance(read, StreamedFile):
        yield from read.batches
        return
    for start in range(0, len(read.documents), size):
        yield read.documents[start:start + size]


@functools.cache
def _embedder(config: EmbedConfig) -> Embedder:
    """One embedder per worker process (its tokenizer chunks, its model embeds)."""
    from lore.embed.registry import create_embedder

    return create_embedder(config)


def _row(key: str, kind: str, payload: object) -> dict[str, Any]:
    return {"key": key, "kind": kind, "payload": pickle.dumps(payload)}


def _rows(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as the columns of one block."""
    return {name: [r[name] for r in rows] for name in ("key", "kind", "payload")}


# -- the cluster ------------------------------------------------------------------------------


class connected:
    """Ray for the block: the cluster ``address`` names, started here when it says so; a
    cluster started here stops after the block."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._started = False

    def __enter__(self) -> None:
        try:
            import ray
            import ray.data
        except ImportError:
            raise ConfigError(f"--ray needs Ray: {INSTALL}") from None
        if ray.is_initialized():
            return
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes are not ours
        quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                 "logging_level": logging.WARNING}
        try:
            if self.address == "local":
                ray.init(**quiet)
            elif self.address == "auto":
                try:
                    ray.init(address="auto", **quiet)
                except ConnectionError:  # no cluster here: make one
                    ray.init(**quiet)
            else:
                ray.init(address=self.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ConfigError(f"cannot reach the Ray cluster {self.address!r}: "
                              f"{str(error).strip().splitlines()[0]}; check the address, or "
                              "use --ray local") from None
        self._started = True

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()
