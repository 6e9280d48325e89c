"""The default ``Store`` (``lore.store.protocol``): a SQLite file in WAL mode.

It holds files, documents, chunks, content-addressed vectors, an FTS5 index of analysed chunk
terms, and a change log that derived indexes (the ANN index) replay to catch up. Every write
goes through ``_transaction`` (one write path); readers in other processes see only committed
states while a writer works, because WAL lets them.

>>> store = SqliteStore(None)          # in memory
>>> store.document_count()
0
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lore.errors import StoreError
from lore.store import sql
from lore.store.metadata import MetadataRows, query_metadata
from lore.store.migrations import SCHEMA_VERSION, check_read_only, migrate
from lore.store.protocol import DocumentWrite, FileRecord, Store, StoredChunk, WriteResult
from lore.store.rows import chunk_row, missing_vectors_error, stored_chunk
from lore.types import Filter

STORE_FILE = "lore.db"


class SqliteStore(Store):
    """Documents, chunks, vectors and the full-text index in one SQLite file.

    Each method keeps the promise its ``Store`` docstring makes.

    Args:
        path: the database file; ``None`` keeps everything in memory (tests).
        read_only: open it so that nothing can be written, though this process may.
    """

    def __init__(self, path: Path | str | None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        path = self.path
        location = str(path) if path else ":memory:"
        self.read_only = read_only or (path is not None and not writable(path))
        """Asked for, or this process may not write the file or its folder: opened
        read-only, so search works and writes say why they cannot."""
        try:
            self._db = _connect(path, self.read_only)
            if self.read_only:
                check_read_only(self._db, location)
            else:
                for pragma in sql.PRAGMAS:
                    self._db.execute(pragma)
                _enable_wal(self._db)
                migrate(self._db, location)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store {location}: {exc}; if the file is damaged, "
                             "move it aside and index again") from None
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def require_writable(self) -> None:
        if self.read_only and self.path is not None and writable(self.path):
            raise StoreError(f"the knowledge base {self.path} was opened read-only: searching "
                             "works, changing it needs it opened again for writing")
        if self.read_only:
            raise StoreError(f"the knowledge base {self.path} is read-only for this user: "
                             "searching works, changing it needs write access to the file "
                             "and its folder")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.require_writable()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, query: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(query, params).fetchall()

    def _read_in(self, template: str, keys: Sequence[object]) -> list[Any]:
        """Rows of ``template`` (a query with ``IN ({marks})``) for ``keys``, in batches that
        stay under SQLite's limit on parameters."""
        rows: list[Any] = []
        for part in _batches(list(keys), 900):
            rows.extend(self._read(template.format(marks=",".join("?" * len(part))), part))
        return rows

    # -- metadata ------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._read(sql.GET_META, (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._transaction() as db:
            db.executemany(sql.SET_META, list(values.items()))

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else ":memory:"

    # -- files and documents ---------------------------------------------------------------

    def file_record(self, path: str) -> FileRecord | None:
        rows = self._read(sql.GET_FILE, (path,))
        if not rows:
            return None
        p, size, mtime, digest = rows[0]
        return FileRecord(str(p), int(size), float(mtime), str(digest))

    def file_paths(self) -> list[str]:
        return [str(row[0]) for row in self._read(sql.LIST_FILE_PATHS)]

    def document_hashes(self, path: str) -> dict[str, str]:
        return {str(i): str(h) for i, h in self._read(sql.DOCUMENT_HASHES_OF_FILE, (path,))}

    def embedded_views(self, path: str) -> list[str]:
        return [str(h) for (h,) in self._read(sql.EMBEDDED_VIEWS_OF_FILE, (path,))]

    def write(self, documents: Sequence[DocumentWrite], files: Sequence[FileRecord] = (),
              removed_documents: Sequence[str] = (), removed_files: Sequence[str] = ()
              ) -> WriteResult:
        """Apply one batch atomically: after a crash either all of it is there or none."""
        added = removed = 0
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with self._transaction() as db:
            for doc_id in removed_documents:
                removed += _delete_document(db, doc_id)
            for path in removed_files:
                for (doc_id,) in db.execute(sql.DOCUMENT_IDS_OF_FILE, (path,)).fetchall():
                    removed += _delete_document(db, doc_id)
                db.execute(sql.DELETE_FILE, (path,))
            for item in documents:
                a, r = _replace_document(db, item)
                added, removed = added + a, removed + r
            for record in files:
                db.execute(sql.UPSERT_FILE, (record.path, record.size, record.mtime,
                                             record.hash, now))
            if added or removed:  # the contract: the time of the last write that changed
                db.execute(sql.SET_META, ("last_update", now))  # documents, not of a no-op
        return WriteResult(added, removed)

    # -- vectors ---------------------------------------------------------------------------

    def missing_vectors(self, hashes: Sequence[str]) -> list[str]:
        with self._lock:
            return [h for h in dict.fromkeys(hashes)
                    if self._db.execute(sql.HAS_VECTOR, (h,)).fetchone() is None]

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(h, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for h, v in zip(hashes, vectors, strict=True)]
        with self._transaction() as db:
            db.executemany(sql.INSERT_VECTOR, rows)

    def drop_orphan_vectors(self) -> None:
        with self._transaction() as db:
            db.execute(sql.DELETE_ORPHAN_VECTORS)

    def switch_embedder(self, meta: Mapping[str, str]) -> None:
        with self._transaction() as db:
            db.executemany(sql.SET_META, list(meta.items()))
            db.execute(sql.DELETE_ALL_VECTORS)

    def views_without_vectors(self) -> list[tuple[str, str]]:
        return [(str(h), str(v)) for h, v in self._read(sql.VIEWS_WITHOUT_VECTORS)]

    def chunk_vectors(self, rowids: Sequence[int] | None = None,
                      dim: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rows = (self._read(sql.CHUNK_VECTORS) if rowids is None
                else self._read_in(sql.CHUNK_VECTORS_BY_ROWID, rowids))
        keys = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return keys, np.zeros((0, dim), dtype=np.float32)
        blob = b"".join(r[1] for r in rows)
        return keys, np.frombuffer(blob, dtype=np.float32).reshape(len(rows), -1).copy()

    def vectors_by_rowid(self, rowids: np.ndarray, dim: int) -> np.ndarray:
        """A shortlist of any length in one statement: its rowids go in as one JSON array."""
        wanted = [int(r) for r in np.asarray(rowids).tolist()]
        rows = self._read(sql.VECTORS_BY_ROWID_JSON, (json.dumps(wanted),))
        blobs = {int(rowid): blob for rowid, blob in rows}
        missing = [r for r in wanted if r not in blobs]
        if missing:
            raise missing_vectors_error(missing)
        matrix = np.frombuffer(b"".join(blobs[r] for r in wanted), dtype=np.float32)
        return matrix.reshape(len(wanted), dim).copy()

    def chunk_terms(self, rowids: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
        rows = (self._read(sql.ALL_TERMS) if rowids is None
                else self._read_in(sql.TERMS_BY_ROWID, rowids))
        keys = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        return keys, [str(r[1]) for r in rows]

    # -- change log (for derived indexes) ---------------------------------------------------

    def last_change(self) -> int:
        return int(self._read(sql.LAST_CHANGE)[0][0])

    def changes_since(self, seq: int) -> list[tuple[int, int, bool]]:
        return [(int(s), int(c), bool(a))
                for s, c, a in self._read(sql.CHANGES_SINCE, (seq,))]

    def trim_changes(self, upto: int) -> None:
        with self._transaction() as db:
            db.execute(sql.TRIM_CHANGES, (upto,))
            db.execute(sql.SET_META, ("changes_floor", str(upto)))

    # -- reading chunks ----------------------------------------------------------------------

    def filtered_rowids(self, conditions: Filter) -> np.ndarray:
        clause, params = _where_clause(conditions)
        with self._lock:  # read row by row into the array: a list of every row is not made
            rows = self._db.execute(sql.FILTERED_CHUNK_ROWIDS.format(where=clause), params)
            return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def chunks(self, rowids: Sequence[int]) -> dict[int, StoredChunk]:
        stored = map(stored_chunk, self._read_in(sql.GET_CHUNKS_BY_ROWID, rowids))
        return {item.rowid: item for item in stored}

    def chunk_rowids(self, ids: Sequence[str]) -> dict[str, int]:
        return {str(key): int(rowid) for key, rowid in self._read_in(sql.CHUNK_ROWIDS, ids)}

    def chunk_kinds(self, rowids: Sequence[int]) -> list[str]:
        return [str(row[0]) for row in self._read_in(sql.CHUNK_KINDS, rowids)]

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        rows = self._read_in(sql.DOCUMENT_TEXTS, list(dict.fromkeys(doc_ids)))
        return {str(doc_id): str(text) for doc_id, text in rows}

    # -- statistics --------------------------------------------------------------------------

    def metadata(self, statement: str, row_limit: int, seconds: float) -> MetadataRows:
        if self.path is None:
            raise StoreError("metadata queries need a store file; this store is in memory")
        return query_metadata(self.path, statement, row_limit, seconds)

    def document_count(self) -> int:
        return int(self._read(sql.COUNT_DOCUMENTS)[0][0])

    def chunk_count(self) -> int:
        return int(self._read(sql.COUNT_CHUNKS)[0][0])

    def vector_count(self) -> int:
        return int(self._read(sql.COUNT_VECTORS)[0][0])

    def size_bytes(self) -> int:
        if self.path is None:
            return 0
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))


def writable(path: Path) -> bool:
    """Whether this process may write ``path`` (if it exists) and create files beside it
    (SQLite's write-ahead log lives there)."""
    folder = path.parent
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return not folder.exists() or os.access(folder, os.W_OK | os.X_OK)


def _connect(path: Path | None, read_only: bool) -> sqlite3.Connection:
    if path is None or not read_only:
        location = str(path) if path else ":memory:"
        return sqlite3.connect(location, isolation_level=None, check_same_thread=False)
    # Reading a WAL database needs its shared-memory file, which this user may not create.
    # With none there and no way to make it, no connection has the database open, and the
    # file is read as immutable: a writer that starts later (another user's) is not seen by
    # this process. Read-only by request, the folder is writable and the file read as usual.
    wal_present = path.with_name(path.name + "-shm").exists()
    mode = "mode=ro" if wal_present or writable(path) else "immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True,
                           isolation_level=None, check_same_thread=False)


def _enable_wal(db: sqlite3.Connection, patience: float = 30.0) -> None:
    """``sql.WAL``, retried while another process switches the same new file (SQLite does
    not wait on its busy timeout here)."""
    deadline, pause = time.monotonic() + patience, 0.005
    while True:
        try:
            db.execute(sql.WAL)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


def _where_clause(conditions: Filter) -> tuple[str, list[object]]:
    """SQL condition over ``chunks c JOIN documents d`` for a Filter, with its parameters."""
    parts: list[str] = []
    params: list[object] = []

    def any_of(fragment: str, values: Sequence[object], per_value: int = 1) -> None:
        parts.append("(" + " OR ".join([fragment] * len(values)) + ")")
        for value in values:
            params.extend([value] * per_value if not isinstance(value, tuple) else value)

    if conditions.paths:
        any_of(sql.FILTER_PATH_GLOB, [(p, p if p.startswith("/") else "*/" + p)
                                      for p in conditions.paths])
    if conditions.formats:
        any_of(sql.FILTER_FORMAT, conditions.formats)
    if conditions.languages:
        any_of(sql.FILTER_LANGUAGE, conditions.languages)
    if conditions.kinds:
        any_of(sql.FILTER_KIND, conditions.kinds)
    if conditions.modified_after is not None:
        parts.append(sql.FILTER_MODIFIED.format(op=">="))
        params.append(conditions.modified_after)
    if conditions.modified_before is not None:
        parts.append(sql.FILTER_MODIFIED.format(op="<"))
        params.append(conditions.modified_before)
    return " AND ".join(parts) or "1", params


def _replace_document(db: sqlite3.Connection, item: DocumentWrite) -> tuple[int, int]:
    """Upsert a document; keep chunks whose text and view are unchanged, delete the rest, add
    the new (a chunk whose view changed, say after a chunker upgrade, is replaced)."""
    doc = item.document
    db.execute(sql.UPSERT_DOCUMENT, (doc.id, doc.path, doc.key, doc.title, doc.format,
                                     doc.language, doc.mtime, doc.content_hash, doc.text,
                                     json.dumps(dict(doc.meta), ensure_ascii=False)))
    existing = {(str(cid), str(view)): int(rowid) for rowid, cid, view in
                db.execute(sql.CHUNKS_OF_DOCUMENT, (doc.id,)).fetchall()}
    wanted = {(chunk.id, chunk.view_hash) for chunk in item.chunks}
    removed = 0
    for identity, rowid in existing.items():
        if identity not in wanted:
            _delete_chunk(db, rowid)
            removed += 1
    added = 0
    for order, (chunk, terms) in enumerate(zip(item.chunks, item.terms, strict=True)):
        kept = existing.get((chunk.id, chunk.view_hash))
        if kept is not None:
            db.execute(sql.UPDATE_CHUNK_ORDER, (order, kept))
            continue
        cursor = db.execute(sql.INSERT_CHUNK, chunk_row(chunk, order))
        rowid = int(cursor.lastrowid or 0)
        db.execute(sql.INSERT_TERMS, (rowid, terms))
        db.execute(sql.LOG_CHANGE, (rowid, 1))
        added += 1
    return added, removed


def _delete_document(db: sqlite3.Connection, doc_id: str) -> int:
    rowids = [int(row[0]) for row in db.execute(sql.CHUNKS_OF_DOCUMENT, (doc_id,)).fetchall()]
    for rowid in rowids:
        _delete_chunk(db, rowid)
    db.execute(sql.DELETE_DOCUMENT, (doc_id,))
    return len(rowids)


def _delete_chunk(db: sqlite3.Connection, rowid: int) -> None:
    db.execute(sql.DELETE_TERMS, (rowid,))
    db.execute(sql.DELETE_CHUNK, (rowid,))
    db.execute(sql.LOG_CHANGE, (rowid, 0))


T = TypeVar("T")


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
