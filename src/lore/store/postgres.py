"""A ``Store`` in PostgreSQL with pgvector: the SQLite file's contract, for a collection that
outgrows one machine or is shared by several processes and servers.

The location is a libpq URL, ``postgresql://user:password@host:5432/db``; ``?schema=NAME``
keeps the collection in a schema of its own (``lore`` by default), so one database can hold
several. Opening creates the pgvector extension if it is missing, then the schema, and runs
the numbered migrations of ``lore.store.pg_sql`` under an advisory lock, so processes that
open a new store at once take turns.

Every write is one transaction that first takes the store's advisory lock: writers take
turns, a killed writer leaves nothing (PostgreSQL rolls back a transaction whose client is
gone), and change numbers commit in order. Reads run on pooled connections, each statement
on one committed state, and never wait for a writer.

Vectors travel in pgvector's binary form (float32, big-endian) both ways.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from lore.errors import StoreError
from lore.store import pg_sql as sql
from lore.store.metadata import MetadataRows, query_copy
from lore.store.migrations import check_version
from lore.store.protocol import DocumentWrite, FileRecord, Store, StoredChunk, WriteResult
from lore.store.rows import chunk_row, missing_vectors_error, stored_chunk
from lore.types import Filter

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "lore"
POOL_SIZE = 4
"""Connections a store object keeps open at most: reads in several threads run at once."""
CONNECT_SECONDS = 10.0
RETRIES = 5
RETRY_PAUSE = 0.2
"""Seconds before the second try of a read or write whose connection was lost; doubled each
time after (0.2 + 0.4 + 0.8 + 1.6 s in all, a server restart's worth)."""
T = TypeVar("T")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_LOCK = "lore:migrate"
"""One advisory lock for every migration in a database: creating the extension is not safe to
run twice at once either."""


def is_postgres(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL store rather than a file."""
    return location.startswith(SCHEMES)


class PostgresStore(Store):
    """Documents, chunks, vectors and analysed terms in a PostgreSQL schema.

    Each method keeps the promise its ``Store`` docstring makes.

    Args:
        location: ``postgresql://...`` with an optional ``schema`` parameter.
        read_only: open it so that nothing can be written: every connection's transactions
            are read-only on the server too.

    Raises:
        StoreError: the server cannot be reached or refuses the login, has no pgvector, or
            (read-only) holds no store there; the message names the fix.
        SchemaVersionError: the store was written by a newer lore.
    """

    def __init__(self, location: str, *, read_only: bool = False) -> None:
        from psycopg_pool import ConnectionPool

        self.conninfo, self.schema = split_location(location)
        self._location = redacted(location)
        self.read_only = read_only
        options = f"-c search_path={self.schema},public"
        if read_only:
            options += " -c default_transaction_read_only=on"
        self._kwargs: dict[str, Any] = {"autocommit": True, "options": options,
                                        "application_name": f"lore:{self.schema}"}
        with self._connect() as conn:
            _migrate(conn, self.schema, self._location, read_only)
        self._lock_key = f"lore:{self.schema}"
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self.conninfo, min_size=1, max_size=POOL_SIZE, kwargs=self._kwargs,
            configure=_register_vector, open=False, name=f"lore-{self.schema}",
            timeout=CONNECT_SECONDS)
        self._pool.open(wait=True, timeout=CONNECT_SECONDS)

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self.conninfo, self._location, **self._kwargs)

    def close(self) -> None:
        self._pool.close()

    def require_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store {self._location} was opened read-only: searching "
                             "works, changing it needs it opened again for writing")

    def _transaction(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` in one transaction holding the store's lock, again on a new connection
        when the connection is lost (every write is idempotent: applied twice, it leaves
        what once does)."""
        self.require_writable()

        def attempt() -> T:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(sql.LOCK_STORE, (self._lock_key,))
                return work(conn)

        return self._retrying(attempt)

    def _read(self, query: str, params: Sequence[object] | Mapping[str, object] = (), *,
              binary: bool = False) -> list[Any]:
        def attempt() -> list[Any]:
            with self._pool.connection() as conn:
                rows: list[Any] = conn.execute(query, params, binary=binary).fetchall()
                return rows

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, tried again with growing pauses while the connection is lost or
        none can be had; then a ``StoreError`` that says so."""
        import psycopg
        from psycopg_pool import PoolTimeout

        for tried in range(1, RETRIES + 1):
            try:
                return attempt()
            except (psycopg.OperationalError, PoolTimeout) as error:
                if tried == RETRIES:
                    raise StoreError(
                        f"lost the connection to the PostgreSQL store {self._location} "
                        f"({_first_line(error)}), {RETRIES} times in a row; check that the "
                        "server runs, then run the command again: nothing it reported done "
                        "is lost") from None
                time.sleep(min(RETRY_PAUSE * 2 ** (tried - 1), 5.0))
        raise AssertionError("unreachable")

    # -- metadata ------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._read(sql.GET_META, (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, values: Mapping[str, str]) -> None:
        self._transaction(lambda conn: _set_meta(conn, values))

    @property
    def schema_version(self) -> int:
        return sql.SCHEMA_VERSION

    @property
    def location(self) -> str:
        return self._location

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
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")

        def apply(conn: psycopg.Connection[Any]) -> WriteResult:
            added = removed = 0
            for doc_id in removed_documents:
                removed += _delete_document(conn, doc_id)
            for path in removed_files:
                for (doc_id,) in conn.execute(sql.DOCUMENT_IDS_OF_FILE, (path,)).fetchall():
                    removed += _delete_document(conn, doc_id)
                conn.execute(sql.DELETE_FILE, (path,))
            a, r = _replace_documents(conn, documents)
            added, removed = added + a, removed + r
            with conn.cursor() as cursor:
                cursor.executemany(sql.UPSERT_FILE, [(r.path, r.size, r.mtime, r.hash, now)
                                                     for r in files])
            if added or removed:
                conn.execute(sql.SET_META, ("last_update", now))
            return WriteResult(added, removed)

        return self._transaction(apply)

    # -- vectors ---------------------------------------------------------------------------

    def missing_vectors(self, hashes: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return []
        stored = {str(row[0]) for row in self._read(sql.STORED_HASHES, (wanted,))}
        return [h for h in wanted if h not in stored]

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(h, np.asarray(v, dtype=np.float32))
                for h, v in zip(hashes, vectors, strict=True)]
        self._transaction(lambda conn: _execute_many(conn, sql.INSERT_VECTOR, rows))

    def drop_orphan_vectors(self) -> None:
        self._transaction(lambda conn: conn.execute(sql.DELETE_ORPHAN_VECTORS))

    def switch_embedder(self, meta: Mapping[str, str]) -> None:
        def apply(conn: psycopg.Connection[Any]) -> None:
            _set_meta(conn, meta)
            _drop_graphs(conn, self.schema)
            conn.execute(sql.DELETE_ALL_VECTORS)

        self._transaction(apply)

    def views_without_vectors(self) -> list[tuple[str, str]]:
        return [(str(h), str(v)) for h, v in self._read(sql.VIEWS_WITHOUT_VECTORS)]

    def chunk_vectors(self, rowids: Sequence[int] | None = None,
                      dim: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rows = (self._read(sql.CHUNK_VECTORS, binary=True) if rowids is None
                else self._read(sql.CHUNK_VECTORS_BY_ROWID, (_ints(rowids),), binary=True))
        keys = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return keys, np.zeros((0, dim), dtype=np.float32)
        return keys, np.stack([r[1] for r in rows])

    def vectors_by_rowid(self, rowids: np.ndarray, dim: int) -> np.ndarray:
        wanted = _ints(rowids)
        rows = self._read(sql.CHUNK_VECTORS_BY_ROWID, (list(set(wanted)),), binary=True)
        found = {int(rowid): vector for rowid, vector in rows}
        missing = [r for r in wanted if r not in found]
        if missing:
            raise missing_vectors_error(missing)
        if not wanted:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([found[r] for r in wanted]).reshape(len(wanted), dim)

    def chunk_terms(self, rowids: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
        rows = (self._read(sql.ALL_TERMS) if rowids is None
                else self._read(sql.TERMS_BY_ROWID, (_ints(rowids),)))
        keys = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        return keys, [str(r[1]) for r in rows]

    # -- change log (for derived indexes) ---------------------------------------------------

    def last_change(self) -> int:
        return int(self._read(sql.LAST_CHANGE)[0][0])

    def changes_since(self, seq: int) -> list[tuple[int, int, bool]]:
        return [(int(s), int(c), bool(a)) for s, c, a in self._read(sql.CHANGES_SINCE, (seq,))]

    def trim_changes(self, upto: int) -> None:
        def apply(conn: psycopg.Connection[Any]) -> None:
            conn.execute(sql.TRIM_CHANGES, (upto,))
            conn.execute(sql.SET_META, ("changes_floor", str(upto)))

        self._transaction(apply)

    # -- reading chunks ----------------------------------------------------------------------

    def filtered_rowids(self, conditions: Filter) -> np.ndarray:
        clause, params = where_clause(conditions)
        query = sql.FILTERED_CHUNK_ROWIDS.format(where=clause)

        def attempt() -> np.ndarray:  # rows become Python objects one at a time
            with self._pool.connection() as conn:
                return np.fromiter((r[0] for r in conn.execute(query, params)), dtype=np.int64)

        return self._retrying(attempt)

    def chunks(self, rowids: Sequence[int]) -> dict[int, StoredChunk]:
        if not rowids:
            return {}
        stored = map(stored_chunk, self._read(sql.GET_CHUNKS_BY_ROWID, (_ints(rowids),)))
        return {item.rowid: item for item in stored}

    def chunk_rowids(self, ids: Sequence[str]) -> dict[str, int]:
        rows = self._read(sql.CHUNK_ROWIDS, (list(ids),)) if ids else []
        return {str(key): int(rowid) for key, rowid in rows}

    def chunk_kinds(self, rowids: Sequence[int]) -> list[str]:
        rows = self._read(sql.CHUNK_KINDS, (_ints(rowids),)) if rowids else []
        return [str(row[0]) for row in rows]

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        rows = self._read(sql.DOCUMENT_TEXTS, (list(dict.fromkeys(doc_ids)),)) if doc_ids \
            else []
        return {str(doc_id): str(text) for doc_id, text in rows}

    # -- search inside the database (lore.store.pgvector) -----------------------------------

    def build_hnsw(self, dim: int, m: int, ef_construction: int, memory: str) -> None:
        """Build the HNSW graph over the ``dim``-dimensional vectors with these settings, unless
        it is there, and drop graphs built with others. It is built in one pass over the rows
        (much faster than growing it row by row) and then kept up by every write; writers wait
        for the build, readers do not. ``memory`` is the build's ``maintenance_work_mem``: a
        graph that outgrows it builds many times slower. A store opened read-only builds
        nothing: its searches scan every vector until a writer builds the graph."""
        name = hnsw_name(dim, m, ef_construction)
        built = [str(row[0]) for row in self._read(sql.HNSW_INDEXES, (self.schema,))]
        if built == [name] or self.read_only:
            return

        def apply(conn: psycopg.Connection[Any]) -> None:
            _drop_graphs(conn, self.schema, keep=name)
            conn.execute(sql.BUILD_MEMORY, (memory,))
            conn.execute(sql.CREATE_HNSW.format(name=name, dim=dim, m=m, ef=ef_construction))

        self._transaction(apply)

    def hnsw_size_bytes(self, dim: int, m: int, ef_construction: int) -> int:
        """Disk the graph takes (0 when it is not built)."""
        row = self._read(sql.INDEX_SIZE, (self.schema, hnsw_name(dim, m, ef_construction)))
        return int(row[0][0] or 0)

    def nearest(self, query: np.ndarray, limit: int, ef_search: int
                ) -> list[tuple[int, float]]:
        """``(rowid, inner product)`` of the chunks whose vectors the graph finds nearest
        ``query``, best first: ``limit`` vectors and every chunk that shares one."""
        dim = len(query)

        def attempt() -> list[tuple[int, float]]:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(sql.SET_EF_SEARCH, (str(ef_search),))
                rows = conn.execute(sql.NEAREST.format(dim=dim),
                                    {"query": query, "limit": limit}).fetchall()
                return [(int(rowid), float(score)) for rowid, score in rows]

        return self._retrying(attempt)

    def nearest_among(self, query: np.ndarray, allowed: np.ndarray, k: int
                      ) -> list[tuple[int, float]]:
        """The ``k`` chunks of ``allowed`` nearest ``query`` by exact inner product."""
        rows = self._read(sql.NEAREST_AMONG, {"query": query, "allowed": _ints(allowed),
                                              "k": k})
        return [(int(rowid), float(score)) for rowid, score in rows]

    def searchable_count(self, dim: int) -> int:
        """Chunks whose vector has ``dim`` dimensions."""
        return int(self._read(sql.COUNT_CHUNKS_WITH_VECTORS, (dim,))[0][0])

    # -- statistics --------------------------------------------------------------------------

    def metadata(self, statement: str, row_limit: int, seconds: float) -> MetadataRows:
        """In SQLite's dialect, as on the file store: the documents' rows (read in one
        statement) are copied into an in-memory SQLite database behind the same guard."""
        return query_copy(self._read(sql.DOCUMENT_ROWS), statement, row_limit, seconds)

    def document_count(self) -> int:
        return int(self._read(sql.COUNT_DOCUMENTS)[0][0])

    def chunk_count(self) -> int:
        return int(self._read(sql.COUNT_CHUNKS)[0][0])

    def vector_count(self) -> int:
        return int(self._read(sql.COUNT_VECTORS)[0][0])

    def size_bytes(self) -> int:
        return int(self._read(sql.SIZE_BYTES, (self.schema,))[0][0])


def hnsw_name(dim: int, m: int, ef_construction: int) -> str:
    """The graph's index name: its settings, so a graph built with others is found and
    replaced."""
    return f"{sql.HNSW_PREFIX}d{dim}_m{m}_ef{ef_construction}"


def connect(conninfo: str, shown: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection to ``conninfo``, or a one-line ``StoreError`` naming ``shown`` (the
    location without its password) and the fix."""
    import psycopg

    try:
        return psycopg.connect(conninfo, connect_timeout=int(CONNECT_SECONDS), **kwargs)
    except psycopg.OperationalError as error:
        if _refused_password(error):
            user = urlsplit(conninfo).username or "this user"
            raise StoreError(f"the PostgreSQL server refused the password of {user} for "
                             f"{shown}; check the password in the URL (or PGPASSWORD, or "
                             "~/.pgpass)") from None
        raise StoreError(f"cannot reach the PostgreSQL store {shown}: {_first_line(error)}; "
                         "check the host, port, user and password in the URL, and that the "
                         "server runs") from None


def with_schema(location: str, schema: str) -> str:
    """``location`` with its ``schema`` parameter set to ``schema``."""
    parts = urlsplit(location)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))


def split_location(location: str) -> tuple[str, str]:
    """(the libpq URL without lore's ``schema`` parameter, the schema)."""
    parts = urlsplit(location)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(f"schema={schema!r} in {redacted(location)} is not a plain name; "
                         "use lower-case letters, digits and underscores")
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def redacted(location: str) -> str:
    """``location`` with its password hidden, for messages."""
    parts = urlsplit(location)
    if not parts.password:
        return location
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def glob_regex(pattern: str) -> str:
    """A POSIX regular expression matching what SQLite's GLOB ``pattern`` matches: ``*`` and
    ``?`` cross ``/``, ``[...]`` is a class (``[^...]`` negated), case-sensitive."""
    out, i = ["^"], 0
    while i < len(pattern):
        char = pattern[i]
        close = pattern.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif close != -1:
            body = pattern[i + 1:close].replace("\\", "\\\\")
            out.append(f"[{body}]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out) + "$"


def where_clause(conditions: Filter) -> tuple[str, list[object]]:
    """SQL condition over ``chunks c JOIN documents d`` for a Filter, with its parameters."""
    parts: list[str] = []
    params: list[object] = []
    if conditions.paths:
        parts.append("(" + " OR ".join([sql.FILTER_PATH] * len(conditions.paths)) + ")")
        for path in conditions.paths:
            params += [glob_regex(path), glob_regex(path if path.startswith("/")
                                                    else "*/" + path)]
    for fragment, values in ((sql.FILTER_FORMAT, conditions.formats),
                             (sql.FILTER_LANGUAGE, conditions.languages),
                             (sql.FILTER_KIND, conditions.kinds)):
        if values:
            parts.append(fragment)
            params.append(list(values))
    if conditions.modified_after is not None:
        parts.append(sql.FILTER_MODIFIED.format(op=">="))
        params.append(conditions.modified_after)
    if conditions.modified_before is not None:
        parts.append(sql.FILTER_MODIFIED.format(op="<"))
        params.append(conditions.modified_before)
    return " AND ".join(parts) or "TRUE", params


# -- opening and migrating ---------------------------------------------------------------------


def _migrate(conn: psycopg.Connection[Any], schema: str, location: str,
             read_only: bool) -> None:
    """Bring the schema up to date under the migration lock; refuse a newer one. A store
    already up to date is only read, so opening it never waits for a writer."""
    version = _version(conn, schema)
    check_version(version, location)
    if read_only and version == 0:
        raise StoreError(f"no lore store in {location}: index into it once, opened for "
                         "writing")
    if read_only and version != sql.SCHEMA_VERSION:
        raise StoreError(f"{location} has schema {version}, not {sql.SCHEMA_VERSION}: open it "
                         "once for writing to upgrade it")
    if version == sql.SCHEMA_VERSION:
        return
    # A session lock, taken before the transaction begins: a transaction takes in other
    # sessions' changes to the catalog when it begins, so one begun before the lock was
    # granted would miss the schema that the process ahead of it just made.
    conn.execute(sql.LOCK_SESSION, (_MIGRATION_LOCK,))
    try:
        with conn.transaction():
            version = _version(conn, schema)
            check_version(version, location)
            if version == sql.SCHEMA_VERSION:
                return
            _create_extension(conn, location)
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(sql.CREATE_VERSION_TABLE)
            for number in range(version, sql.SCHEMA_VERSION):
                conn.execute(sql.MIGRATIONS[number])
                conn.execute(sql.SET_VERSION, (number + 1,))
    finally:
        conn.execute(sql.UNLOCK_SESSION, (_MIGRATION_LOCK,))


def _version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The schema version recorded at ``schema``; 0 where there is no store yet."""
    exists = conn.execute(sql.HAS_VERSION_TABLE, (schema,)).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(sql.GET_VERSION).fetchone()
    return int(row[0]) if row else 0


def _create_extension(conn: psycopg.Connection[Any], location: str) -> None:
    import psycopg

    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.UndefinedFile:
        raise StoreError(f"the PostgreSQL server of {location} has no pgvector extension: "
                         "install pgvector on the server (Debian: postgresql-NN-pgvector), "
                         "then run again") from None
    except psycopg.errors.InsufficientPrivilege:
        raise StoreError(f"pgvector is not enabled in the database of {location}, and this "
                         "user may not enable it: ask a superuser of the server to run "
                         "CREATE EXTENSION vector in that database") from None


# -- vectors in pgvector's binary form ---------------------------------------------------------


def _register_vector(conn: psycopg.Connection[Any]) -> None:
    """Teach a new pooled connection pgvector's binary form: numpy rows go out and come back
    as float32 arrays."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise StoreError("the pgvector extension is gone from the store's database; run "
                         "CREATE EXTENSION vector there")
    oid = info.oid

    class VectorDumper(Dumper):
        format = Format.BINARY

        def __init__(self, cls: type, context: Any = None) -> None:
            super().__init__(cls, context)
            self.oid = oid

        def dump(self, obj: Any) -> bytes:
            row = np.asarray(obj, dtype=">f4").ravel()
            return struct.pack(">HH", row.size, 0) + row.tobytes()

    class VectorLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            return np.frombuffer(bytes(data), dtype=">f4", offset=4).astype(np.float32)

    conn.adapters.register_dumper(np.ndarray, VectorDumper)
    conn.adapters.register_loader(oid, VectorLoader)


# -- writing documents -------------------------------------------------------------------------


def _replace_documents(conn: psycopg.Connection[Any], items: Sequence[DocumentWrite]
                       ) -> tuple[int, int]:
    """Upsert a batch of documents; keep chunks whose text and view are unchanged, delete the
    rest, add the new: a few statements for the whole batch, whatever its size (a round trip
    per document would bound a bulk load by the network's latency)."""
    latest = list({item.document.id: item for item in items}.values())  # a repeat: the last
    if not latest:
        return 0, 0
    docs = [item.document for item in latest]
    conn.execute(sql.UPSERT_DOCUMENTS, [
        [d.id for d in docs], [d.path for d in docs], [d.key for d in docs],
        [d.title for d in docs], [d.format for d in docs], [d.language for d in docs],
        [d.mtime for d in docs], [d.content_hash for d in docs], [d.text for d in docs],
        [json.dumps(dict(d.meta)) for d in docs]])
    existing: dict[tuple[str, str, str], int] = {
        (str(doc_id), str(cid), str(view)): int(rowid) for doc_id, rowid, cid, view in
        conn.execute(sql.CHUNKS_OF_DOCUMENTS, ([d.id for d in docs],)).fetchall()}
    kept: list[tuple[int, int]] = []
    fresh: list[tuple[object, ...]] = []
    for item in latest:
        for order, (chunk, terms) in enumerate(zip(item.chunks, item.terms, strict=True)):
            rowid = existing.pop((item.document.id, chunk.id, chunk.view_hash), None)
            if rowid is not None:
                kept.append((rowid, order))
            else:
                fresh.append((*chunk_row(chunk, order), terms))
    _delete_chunks(conn, sorted(existing.values()))  # what no document kept
    if kept:
        conn.execute(sql.UPDATE_CHUNK_ORDER, [list(column) for column in zip(*kept, strict=True)])
    if fresh:
        new = _copy_chunks(conn, fresh)
        conn.execute(sql.LOG_CHANGES, (True, new))
    return len(fresh), len(existing)


def _copy_chunks(conn: psycopg.Connection[Any], rows: Sequence[tuple[object, ...]]
                 ) -> list[int]:
    """Add chunks with ``COPY``, which skips the planning and parameter handling an ``INSERT``
    pays per row; their rowids, in ascending order, are taken from the sequence first."""
    rowids = [int(r[0]) for r in conn.execute(sql.NEXT_CHUNK_ROWIDS, (len(rows),)).fetchall()]
    with conn.cursor().copy(sql.COPY_CHUNKS) as copy:
        for rowid, row in zip(rowids, rows, strict=True):
            copy.write_row((rowid, *row))
    return rowids


def _drop_graphs(conn: psycopg.Connection[Any], schema: str, keep: str = "") -> None:
    """Drop the schema's HNSW graphs, but ``keep``."""
    for (name,) in conn.execute(sql.HNSW_INDEXES, (schema,)).fetchall():
        if name != keep:
            conn.execute(sql.DROP_INDEX.format(name=name))


def _set_meta(conn: psycopg.Connection[Any], values: Mapping[str, str]) -> None:
    _execute_many(conn, sql.SET_META, list(values.items()))


def _execute_many(conn: psycopg.Connection[Any], statement: str,
                  rows: Sequence[Sequence[Any]]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(statement, rows)


def _delete_document(conn: psycopg.Connection[Any], doc_id: str) -> int:
    rowids = [int(row[0]) for row in conn.execute(sql.CHUNKS_OF_DOCUMENT, (doc_id,))]
    _delete_chunks(conn, rowids)
    conn.execute(sql.DELETE_DOCUMENT, (doc_id,))
    return len(rowids)


def _delete_chunks(conn: psycopg.Connection[Any], rowids: list[int]) -> None:
    if rowids:
        conn.execute(sql.DELETE_CHUNKS, (rowids,))
        conn.execute(sql.LOG_CHANGES, (False, rowids))


def _ints(rowids: Sequence[int] | np.ndarray) -> list[int]:
    return [int(r) for r in np.asarray(rowids).tolist()]


def _refused_password(error: BaseException) -> bool:
    """Whether a failed login was the password's fault (SQLSTATE 28P01; libpq's text where a
    connection error carries no state)."""
    return (getattr(error, "sqlstate", None) == "28P01"
            or "password authentication failed" in str(error))


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
