"""The server's own tables (keys, collections, jobs, uploads) in one of two databases.

A server alone keeps them in a SQLite file in its data folder. Servers that share a
PostgreSQL store keep them in that database, in the schema ``<store schema>_server``, so
that every replica sees the same keys, collections and jobs. Statements are written once,
with ``?`` placeholders; ``claim`` is the suffix that lets several replicas take jobs from one
queue without waiting on each other.

>>> db = open_control(config, "jobs")    # jobs.db beside the collections, or PostgreSQL
>>> with db.transaction() as tx:
...     tx.execute("UPDATE jobs SET state = ? WHERE id = ?", ("done", job_id))
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lore.config import LoreConfig

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

Params = Sequence[object]
POOL_SIZE = 4
CONNECT_SECONDS = 10.0


class Statements(Protocol):
    """What a connection, or one transaction on it, can run."""

    def execute(self, query: str, params: Params = ()) -> int:
        """Run ``query``; how many rows it changed."""

    def executemany(self, query: str, rows: Sequence[Params]) -> None: ...

    def one(self, query: str, params: Params = ()) -> Any:
        """The first row, or None."""

    def all(self, query: str, params: Params = ()) -> list[Any]: ...


class ControlDb(Statements, Protocol):
    shared: bool
    """Whether other servers may use these tables at the same time."""
    claim: str
    """Appended to a ``SELECT`` that picks a row to take: rows another server is taking are
    passed over rather than waited for."""
    blob: str
    """The column type of raw bytes."""
    location: str
    """Where the tables are, for messages (no password)."""

    def transaction(self) -> AbstractContextManager[Statements]:
        """Statements that take effect together or not at all."""

    def close(self) -> None: ...


def open_control(config: LoreConfig, name: str) -> ControlDb:
    """The server's tables for ``name`` (``keys``, ``jobs``): in the PostgreSQL store when
    ``config.store`` names one, else in the file ``<data dir>/<name>.db``."""
    if config.store is not None:
        return PostgresControl(config.store)
    data_dir = config.serve.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteControl(data_dir / f"{name}.db")


class SqliteControl:
    """One SQLite file, one connection shared by the server's threads."""

    shared = False
    claim = ""
    blob = "BLOB"

    def __init__(self, path: Path) -> None:
        self.location = str(path)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.RLock()

    def execute(self, query: str, params: Params = ()) -> int:
        with self._lock:
            return self._db.execute(query, params).rowcount

    def executemany(self, query: str, rows: Sequence[Params]) -> None:
        with self._lock:
            self._db.executemany(query, rows)

    def one(self, query: str, params: Params = ()) -> Any:
        with self._lock:
            return self._db.execute(query, params).fetchone()

    def all(self, query: str, params: Params = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(query, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[Statements]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresControl:
    """A schema beside the store's, through a small connection pool."""

    shared = True
    claim = " FOR UPDATE SKIP LOCKED"
    blob = "BYTEA"

    def __init__(self, store: str) -> None:
        from psycopg_pool import ConnectionPool

        from lore.store.postgres import connect, redacted, split_location

        conninfo, schema = split_location(store)
        self.schema = f"{schema[:55]}_server"
        self.location = f"{redacted(conninfo)} (schema {self.schema})"
        kwargs = {"autocommit": True, "options": f"-c search_path={self.schema}",
                  "application_name": "lore:server"}
        # One connection first: it fails fast, with the reason, where a pool would retry.
        with connect(conninfo, redacted(store), **kwargs) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('lore:server-schema'))")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        self._pool: ConnectionPool[Any] = ConnectionPool(
            conninfo, min_size=1, max_size=POOL_SIZE, kwargs=kwargs, open=False,
            name="lore-server", timeout=CONNECT_SECONDS, check=ConnectionPool.check_connection)
        self._pool.open(wait=True, timeout=CONNECT_SECONDS)

    def execute(self, query: str, params: Params = ()) -> int:
        with self._pool.connection() as conn:
            return _Transaction(conn).execute(query, params)

    def executemany(self, query: str, rows: Sequence[Params]) -> None:
        with self._pool.connection() as conn:
            _Transaction(conn).executemany(query, rows)

    def one(self, query: str, params: Params = ()) -> Any:
        with self._pool.connection() as conn:
            return _Transaction(conn).one(query, params)

    def all(self, query: str, params: Params = ()) -> list[Any]:
        with self._pool.connection() as conn:
            return _Transaction(conn).all(query, params)

    @contextmanager
    def transaction(self) -> Iterator[Statements]:
        with self._pool.connection() as conn, conn.transaction():
            yield _Transaction(conn)

    def close(self) -> None:
        self._pool.close()


class _Transaction:
    """Statements on one PostgreSQL connection: inside its open transaction, or each its
    own (the pool's connections commit every statement)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, query: str, params: Params = ()) -> int:
        return int(self._conn.execute(_pg(query), params).rowcount)

    def executemany(self, query: str, rows: Sequence[Params]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_pg(query), rows)

    def one(self, query: str, params: Params = ()) -> Any:
        return self._conn.execute(_pg(query), params).fetchone()

    def all(self, query: str, params: Params = ()) -> list[Any]:
        return list(self._conn.execute(_pg(query), params).fetchall())


def create_tables(db: ControlDb, schema: str) -> None:
    """Run ``CREATE TABLE IF NOT EXISTS`` statements (separated by ``;``) as one step, so
    that servers starting together do not race."""
    with db.transaction() as tx:
        if db.shared:
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('lore:server-schema'))")
        for statement in filter(str.strip, schema.split(";")):
            tx.execute(statement)


def add_missing_columns(db: ControlDb, table: str, columns: dict[str, str]) -> None:
    """Columns a newer server added to ``table`` of an older file: ``{name: definition}``."""
    if db.shared:
        for name, definition in columns.items():
            db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {definition}")
        return
    have = {row[1] for row in db.all(f"PRAGMA table_info({table})")}
    for name, definition in columns.items():
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")


def _pg(query: str) -> str:
    return query.replace("?", "%s")
