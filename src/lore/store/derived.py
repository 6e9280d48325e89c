"""Indexes derived from the store, kept in step with it: loaded, caught up, saved, rebuilt.

Each write to the store appends to a change log in the same transaction; a saved index records
the last change it holds (``seq``). Opening an index loads the newest saved copy and replays the
log past its ``seq``; a missing, corrupt or too-old copy is rebuilt from the store. Saves go to a
fresh directory and a ``CURRENT`` pointer is replaced atomically, so a reader never sees a
half-written index. Three indexes are derived this way: the vector index, the BM25 index and
the concept index the graph retriever walks.

A saved copy is bound to the store it was built from: each save draws a random token, writes
it into the copy's ``state.json`` and then into the store's meta (``derived:<name>``), and a
copy whose token is not the store's is rebuilt. So a store restored from a backup, deleted and
indexed anew, or paired with another knowledge base's ``index/`` never lends its chunk rowids
to vectors or terms of other chunks; a crash between the two writes costs one rebuild. Each
file's CRC-32 is in ``state.json`` too, checked on load: a damaged copy is rebuilt.

Layout::

    index/<name>/CURRENT           name of the live directory
    index/<name>/<seq>-<kind>/     the index's params.json and data files, plus state.json
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from lore.config import IndexConfig
from lore.errors import StoreError
from lore.store.ann import choose_kind, create_index, load_index
from lore.store.bm25 import BM25Index, BM25Writer
from lore.store.concepts import ConceptIndex, ConceptWriter
from lore.store.hnsw import HnswIndex
from lore.store.hnsw_writer import HnswWriter
from lore.store.ivfpq import IvfPqIndex, training_size
from lore.store.pgvector import PgvectorIndex
from lore.store.postgres import PostgresStore
from lore.store.protocol import Rescoring, Store, VectorIndex
from lore.store.tagging import tag_in_order
from lore.types import Filter

_POINTER = "CURRENT"
_STATE = "state.json"


class Derivable(Protocol):
    kind: str

    def __len__(self) -> int: ...
    def remove(self, keys: np.ndarray) -> None: ...
    def save(self, directory: Path) -> None: ...


IndexT = TypeVar("IndexT", bound=Derivable)


class Feed(Protocol[IndexT]):
    """How one kind of derived index is made and fed from the store."""

    mapped: bool
    """``load`` maps the saved copy's files rather than reading them. A saved index is then
    opened again from its copy, so the parts it changed in memory are mapped again, and its
    next save links the files no change touched."""

    def create(self, size: int) -> IndexT: ...
    def load(self, directory: Path) -> IndexT: ...
    def fill(self, index: IndexT, rowids: Sequence[int] | None) -> None:
        """Add the data of these chunk rowids (all chunks when None) to ``index``."""
    def fits(self, index: IndexT) -> bool:
        """False when the index should be rebuilt as another kind (it outgrew exact search)."""


FILL_BATCH = 5_000
"""Chunks read from the store at a time while filling an index: what a fill holds beside the
index it grows, whatever the collection's size."""


def batches(store: Store, rowids: Sequence[int] | np.ndarray | None, size: int = FILL_BATCH
            ) -> Iterator[list[int]]:
    """``rowids`` (every chunk's when None) in pieces of ``size``."""
    every = all_rowids(store, rowids)
    for start in range(0, len(every), size):
        yield every[start:start + size].tolist()


def all_rowids(store: Store, rowids: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """As an array: a list of Python ints takes several times the memory."""
    return store.filtered_rowids(Filter()) if rowids is None else np.asarray(rowids, np.int64)


class VectorFeed:
    """Feeds the vector index from the store's vectors, and lends the store to indexes that
    re-score from it (``ivfpq``, ``lsh``): they keep codes, the store keeps the vectors. An
    index that searches inside the store (``pgvector``) is fed by the store's own writes: it
    is only told to catch up."""

    mapped = True

    def __init__(self, store: Store, dim: int, config: IndexConfig) -> None:
        self._store, self.dim, self._config = store, dim, config
        self._in_database = isinstance(store, PostgresStore)

    def create(self, size: int) -> VectorIndex:
        kind = choose_kind(size, self._config, in_database=self._in_database)
        return self._attach(create_index(kind, self.dim, self._config))

    def load(self, directory: Path) -> VectorIndex:
        index = load_index(directory, mmap=True)
        if index.dim != self.dim:
            raise StoreError(f"vector index at {directory} has {index.dim} dimensions, "
                             f"not {self.dim}")
        self._attach(index)
        if isinstance(index, PgvectorIndex):
            index.sync()  # its copy holds settings only: count what the database's graph has
        return index

    def fill(self, index: VectorIndex, rowids: Sequence[int] | None) -> None:
        if isinstance(index, PgvectorIndex):
            index.sync()
            return
        every = all_rowids(self._store, rowids)
        if isinstance(index, IvfPqIndex) and not len(index) and len(every) >= index.min_train:
            every = self._train(index, every)
        for batch in batches(self._store, every):
            keys, vectors = self._store.chunk_vectors(batch, dim=self.dim)
            if len(keys):
                index.add(keys, vectors)

    def _train(self, index: IvfPqIndex, every: np.ndarray) -> np.ndarray:
        """Train an empty IVF-PQ index on a random sample of the chunks ``every``, with its
        lists laid out for all of them; returns the chunks left to add. A sample, not the
        first chunks: those come from the first files indexed."""
        size = training_size(len(every), self.dim, index.compression)
        sample = np.sort(np.random.default_rng(0).choice(every, size, replace=False))
        keys = np.empty(size, np.int64)
        vectors = np.empty((size, self.dim), np.float32)
        held = 0
        for batch in batches(self._store, sample):
            got, rows = self._store.chunk_vectors(batch, dim=self.dim)
            keys[held:held + len(got)], vectors[held:held + len(got)] = got, rows
            held += len(got)
        index.train_for(keys[:held], vectors[:held], expected=len(every))
        rest: np.ndarray = np.setdiff1d(every, sample, assume_unique=True)
        return rest

    def written_kind(self, saved: str) -> str | None:
        """HNSW when the collection calls for it (``saved``, the saved copy's kind, decides
        near a threshold): a graph is written a segment at a time. The other kinds are built
        in memory and saved."""
        kind = choose_kind(self._store.chunk_count(), self._config,
                           current=None if saved == "none" else saved,
                           in_database=self._in_database)
        return kind if kind == HnswIndex.kind else None

    def write(self, directory: Path, earlier: Path | None, dropped: np.ndarray,
              rowids: Sequence[int] | None) -> str:
        """Write the HNSW index into ``directory`` (``Writing``), holding one segment."""
        writer = HnswWriter(directory, self._new_hnsw())
        if earlier is not None:
            writer.carry(earlier, dropped)
        for batch in batches(self._store, rowids):
            writer.add(*self._store.chunk_vectors(batch, dim=self.dim))
        writer.finish()
        return HnswIndex.kind

    def _new_hnsw(self) -> HnswIndex:
        index = create_index(HnswIndex.kind, self.dim, self._config)
        assert isinstance(index, HnswIndex)
        return index

    def fits(self, index: VectorIndex) -> bool:
        if isinstance(index, IvfPqIndex) and index.outgrown():
            return False  # its lists were sized for a much smaller collection
        if isinstance(index, PgvectorIndex) and (index.m, index.ef_construction) != (
                self._config.pgvector_m, self._config.pgvector_ef_construction):
            return False
        return choose_kind(len(index), self._config, current=index.kind,
                           in_database=self._in_database) == index.kind

    def _attach(self, index: VectorIndex) -> VectorIndex:
        if isinstance(index, Rescoring):
            index.rescore_source = self._vectors_of
        if isinstance(index, PgvectorIndex):
            index.attach(self._store)
            index.ef_search = self._config.pgvector_ef_search
        return index

    def _vectors_of(self, keys: np.ndarray) -> np.ndarray:
        return self._store.vectors_by_rowid(keys, dim=self.dim)


@runtime_checkable
class Writing(Protocol):
    """A feed that can also save its index a batch at a time, never holding all of it
    (``DerivedIndex.write``)."""

    def write(self, directory: Path, earlier: Path | None, dropped: np.ndarray,
              rowids: Sequence[int] | None) -> str:
        """Save into ``directory`` the rows of the copy in ``earlier`` but ``dropped`` ones,
        then the data of ``rowids`` (all chunks when None); returns the index's kind."""

    def written_kind(self, saved: str) -> str | None:
        """The kind ``write`` would write now, given the saved copy's kind (``none`` when
        there is none); None when this index is built in memory instead (``save``)."""


class TermFeed:
    mapped = False

    def __init__(self, store: Store) -> None:
        self._store = store

    def write(self, directory: Path, earlier: Path | None, dropped: np.ndarray,
              rowids: Sequence[int] | None) -> str:
        writer = BM25Writer(directory)
        if earlier is not None:
            writer.carry(earlier, dropped)
        for batch in batches(self._store, rowids):
            keys, texts = self._store.chunk_terms(batch)
            if len(keys):
                writer.add(keys, [text.split() for text in texts])
        writer.finish()
        return BM25Index.kind

    def written_kind(self, saved: str) -> str | None:
        return BM25Index.kind

    def create(self, size: int) -> BM25Index:
        return BM25Index()

    def load(self, directory: Path) -> BM25Index:
        return BM25Index.load(directory)

    def fill(self, index: BM25Index, rowids: Sequence[int] | None) -> None:
        for batch in batches(self._store, rowids):
            keys, texts = self._store.chunk_terms(batch)
            if len(keys):
                index.add(keys, [text.split() for text in texts])

    def fits(self, index: BM25Index) -> bool:
        return True


class ConceptFeed:
    """Feeds the concept index: each chunk's concepts, read from its text and its document's
    title (a title names what the whole document is about), tagged in ``workers`` processes
    when there are at least ``parallel_from`` chunks to tag (``lore.store.tagging``)."""

    BATCH = 512
    mapped = False

    def __init__(self, store: Store, workers: int = 1, parallel_from: int = 2_048) -> None:
        self._store = store
        self._workers, self._parallel_from = workers, parallel_from
        self.report: Callable[[int, int], None] | None = None
        """Told (chunks read, chunks to read) after each batch, while set."""

    def create(self, size: int) -> ConceptIndex:
        return ConceptIndex()

    def load(self, directory: Path) -> ConceptIndex:
        return ConceptIndex.load(directory)

    def fill(self, index: ConceptIndex, rowids: Sequence[int] | None) -> None:
        for chunk_keys, found in self._tagged(rowids):
            index.add(chunk_keys, found)

    def write(self, directory: Path, earlier: Path | None, dropped: np.ndarray,
              rowids: Sequence[int] | None) -> str:
        """Write the concept index into ``directory`` (``Writing``), holding one batch."""
        writer = ConceptWriter(directory)
        if earlier is not None:
            writer.carry(earlier, dropped)
        # In rowid order: the store gives new chunks rowids past every live one, so the
        # rows written stay in key order and the writer need not sort them in memory.
        for chunk_keys, found in self._tagged(None if rowids is None else sorted(rowids)):
            writer.add(chunk_keys, found)
        writer.finish()
        return ConceptIndex.kind

    def written_kind(self, saved: str) -> str | None:
        return ConceptIndex.kind

    def _tagged(self, rowids: Sequence[int] | None
                ) -> Iterator[tuple[list[int], list[list[str]]]]:
        """The still-stored chunks of ``rowids`` (all when None), a batch at a time, with
        their concepts; ``report`` is told the progress."""
        keys = all_rowids(self._store, rowids)
        workers = self._workers if len(keys) >= self._parallel_from else 1
        for (chunk_keys, read), found in tag_in_order(self._texts(keys), workers):
            yield chunk_keys, found
            if self.report is not None:
                self.report(read, len(keys))

    def fits(self, index: ConceptIndex) -> bool:
        return True

    def _texts(self, keys: np.ndarray
               ) -> Iterator[tuple[tuple[list[int], int], list[tuple[str, str]]]]:
        """The chunks of ``keys`` that are still stored, a batch at a time: (their rowids,
        the keys read so far), and their (title, text) pairs."""
        for start in range(0, len(keys), self.BATCH):
            read = keys[start:start + self.BATCH].tolist()
            chunks = self._store.chunks(read)
            yield (list(chunks), start + len(read)), [(stored.title, stored.chunk.text)
                                                      for stored in chunks.values()]


class DerivedIndex(Generic[IndexT]):
    """Keeps one derived index in step with a ``Store`` (any backend: it reads only the
    protocol's change log, vectors and terms).

    >>> vectors = DerivedIndex(store, kb_dir / "index" / "vectors", VectorFeed(store, 384, cfg))
    >>> keys, scores = vectors.current().search(query_vector, k=10)
    """

    def __init__(self, store: Store, directory: Path | None, feed: Feed[IndexT]) -> None:
        self._store = store
        self._directory = directory
        self._feed = feed
        self._index: IndexT | None = None
        self.seq = -1
        """The last change of the store's log that the index holds."""
        self._checked = ""
        """The saved copy whose checksums this object verified when it loaded it."""

    @property
    def kind(self) -> str:
        return self._index.kind if self._index is not None else "none"

    def current(self) -> IndexT:
        """The index, caught up with every committed change."""
        if self._index is None or self._store.last_change() != self.seq:
            self._refresh()
        assert self._index is not None  # _refresh always sets it
        return self._index

    def saved_kind(self) -> str:
        """The kind of the saved copy (``none`` when there is none), without loading it."""
        live = self._live_directory()
        return live.name.split("-")[1] if live is not None and live.name.count("-") >= 2 \
            else "none"

    def saved_directory(self) -> Path | None:
        """The live saved copy's directory, without loading it (None before a save)."""
        live = self._live_directory()
        return live if live is not None and live.is_dir() else None

    def size_bytes(self) -> int:
        live = self._live_directory()
        if live is None or not live.is_dir():
            return 0
        return sum(p.stat().st_size for p in live.iterdir())

    def save(self) -> None:
        """Write the caught-up index (rebuilt first if its kind no longer fits its size).

        The caller trims the store's change log afterwards, once every derived index is saved.
        """
        if self._directory is None:
            return
        index = self.current()
        if not self._feed.fits(index):
            self._rebuild()
            index = self.current()
        if self._saved(index.kind):
            return
        staging = self._staging()
        index.save(staging)
        name = self._publish(staging, index.kind)
        if self._feed.mapped:  # just written: no checksums to verify
            self._index, self._checked = self._feed.load(self._directory / name), name

    def write(self) -> None:
        """``save``, leaving the index on disk only. A feed that writes its index a batch at a
        time (``Writing``) never holds it: it carries the saved copy's rows over from disk,
        less the chunks changed since, and adds those from the store (every chunk when there
        is no usable copy)."""
        if self._directory is None:
            return
        saved = self.saved_kind()
        kind = self._feed.written_kind(saved) if isinstance(self._feed, Writing) else None
        if kind is None:
            self.save()
            self.release()
            return
        seq = self._store.last_change()  # first: changes committed meanwhile replay later
        usable = self._usable_copy() if saved == kind else None  # another kind: write anew
        self._index = None
        if usable is not None and usable[1] == seq:
            self.seq = seq
            return
        staging = self._staging()
        try:
            kind = self._write_from(staging, usable)
        except StoreError:  # the earlier copy cannot be read: write every chunk
            shutil.rmtree(staging, ignore_errors=True)
            staging = self._staging()
            kind = self._write_from(staging, None)
        self.seq = seq
        self._publish(staging, kind)

    def _write_from(self, staging: Path, usable: tuple[Path, int] | None) -> str:
        assert isinstance(self._feed, Writing)
        if usable is None:
            return self._feed.write(staging, None, np.zeros(0, np.int64), None)
        final: dict[int, bool] = {}
        for _, chunk, added in self._store.changes_since(usable[1]):
            final[chunk] = added
        return self._feed.write(staging, usable[0], np.fromiter(final, np.int64, len(final)),
                                [chunk for chunk, added in final.items() if added])

    def _staging(self) -> Path:
        assert self._directory is not None
        self._directory.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self._directory))

    def _publish(self, staging: Path, kind: str) -> str:
        """Make the copy written in ``staging`` the live one, holding change ``self.seq``;
        returns its directory's name."""
        assert self._directory is not None
        token = uuid.uuid4().hex
        files = {path.name: _checksum(path) for path in sorted(staging.iterdir())}
        (staging / _STATE).write_text(json.dumps({"seq": self.seq, "token": token,
                                                  "files": files}))
        name = f"{self.seq}-{kind}-{token[:8]}"
        os.replace(staging, self._directory / name)
        _write_atomically(self._directory / _POINTER, name)
        self._store.set_meta({self._token_key: token})
        self._remove_stale(keep=name)
        return name

    def release(self) -> None:
        """Drop the index from memory; the next use loads the saved copy (or rebuilds)."""
        self._index = None

    def reset(self) -> None:
        """Forget every saved copy: the next use rebuilds from the store (after a re-embed)."""
        self._index, self.seq = None, -1
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def _refresh(self) -> None:
        if self._index is None or self.seq < self._changes_floor():
            self._load_or_rebuild()
        self._replay()

    def _changes_floor(self) -> int:
        return int(self._store.get_meta("changes_floor") or 0)

    @property
    def _token_key(self) -> str:
        return f"derived:{self._directory.name if self._directory else ''}"

    def _load_or_rebuild(self) -> None:
        usable = self._usable_copy()
        if usable is not None:
            try:
                self._index, self.seq = self._feed.load(usable[0]), usable[1]
                self._checked = usable[0].name
                return
            except (OSError, ValueError, KeyError, TypeError, StoreError):
                pass  # a damaged copy is only a cache: rebuild it
        self._rebuild()

    def _usable_copy(self) -> tuple[Path, int] | None:
        """The live saved copy and the change it holds, when it is this store's, the log
        still reaches back to it, and its files are intact."""
        live = self._live_directory()
        if live is None:
            return None
        try:
            state = json.loads((live / _STATE).read_text())
            seq = int(state["seq"])
            if self._matches(str(state["token"]), seq) and _intact(live, state["files"]):
                return live, seq
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _saved(self, kind: str) -> bool:
        """The live copy already holds this very index: same store, change and kind."""
        live = self._live_directory()
        if live is None or not live.name.startswith(f"{self.seq}-{kind}-"):
            return False
        try:
            state = json.loads((live / _STATE).read_text())
            return bool(state["seq"] == self.seq and self._matches(str(state["token"]), self.seq)
                        and (live.name == self._checked or _intact(live, state["files"])))
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def _matches(self, token: str, seq: int) -> bool:
        """The copy was saved from this store, and the store's log still reaches back to it."""
        return (token == self._store.get_meta(self._token_key)
                and self._changes_floor() <= seq <= self._store.last_change())

    def _live_directory(self) -> Path | None:
        if self._directory is None:
            return None
        try:
            name = (self._directory / _POINTER).read_text().strip()
        except OSError:
            return None
        return self._directory / name

    def _rebuild(self) -> None:
        # Read the sequence number first: changes committed during the read are replayed later.
        seq = self._store.last_change()
        index = self._feed.create(self._store.chunk_count())
        self._feed.fill(index, None)
        self._index, self.seq = index, seq

    def _replay(self) -> None:
        assert self._index is not None
        changes = self._store.changes_since(self.seq)
        if not changes:
            return
        final: dict[int, bool] = {}
        for _, chunk, added in changes:
            final[chunk] = added
        self._index.remove(np.fromiter(final, dtype=np.int64, count=len(final)))
        self._feed.fill(self._index, [c for c, added in final.items() if added])
        self.seq = changes[-1][0]

    def _remove_stale(self, keep: str) -> None:
        assert self._directory is not None
        for entry in self._directory.iterdir():
            if entry.name not in (keep, _POINTER) and entry.is_dir():
                # Readers that mapped an old copy keep their open files; Linux frees them later.
                shutil.rmtree(entry, ignore_errors=True)


def _checksum(path: Path) -> int:
    """CRC-32 of a file: finds damage (a disk's, an editor's) at about 2.8 GB/s, so a copy
    is checked on every load; it is no defence against someone who may write the index."""
    value = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            value = zlib.crc32(block, value)
    return value


def _intact(directory: Path, files: dict[str, int]) -> bool:
    """Every file a saved copy lists is there with its checksum."""
    return bool(files) and all(_checksum(directory / name) == value
                               for name, value in files.items())


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
