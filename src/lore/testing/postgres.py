"""A real PostgreSQL with pgvector for tests: the server named by ``LORE_TEST_POSTGRES`` (a
URL of a database the tests may create schemas in), or else one started from the
``pgserver`` wheel (PostgreSQL 16 with pgvector, no root and no network needed) in a
temporary folder, once per test process, stopped when it exits.

Each store a test opens lives in a schema of its own (``location``), so tests never see each
other's rows; schemas made on a server that outlives the tests are dropped by ``drop_all``.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from typing import Any

from lore.store.postgres import split_location, with_schema

ENV = "LORE_TEST_POSTGRES"
_server: Any = None
_names = itertools.count()
_prefix = f"t{os.getpid()}_"


def server_url() -> str:
    """The URL of the test database, starting the bundled server on first use.

    Raises:
        RuntimeError: neither ``LORE_TEST_POSTGRES`` is set nor ``pgserver`` installed.
    """
    global _server
    given = os.environ.get(ENV)
    if given:
        return given
    if _server is None:
        with warnings.catch_warnings():  # it asks for a runtime folder it does not need
            warnings.simplefilter("ignore")
            try:
                import pgserver
            except ImportError:
                raise RuntimeError(f"the PostgreSQL tests need a server: pip install pgserver "
                                   f"(the test extra has it), or set {ENV} to a database "
                                   "URL") from None
            folder = tempfile.mkdtemp(prefix="lore-pg-")
            _server = pgserver.get_server(  # type: ignore[attr-defined]
                folder, cleanup_mode="delete")
    return str(_server.get_uri())


def location(url: str | None = None) -> str:
    """A new, empty store location on the test server: a fresh schema name in its URL."""
    return with_schema(url or server_url(), f"{_prefix}{next(_names)}")


class PostgresSchemaRecord:
    """The version a PostgreSQL store records in its ``schema_version`` table."""

    def get(self, location: str) -> int:
        with _connect(location) as conn:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            return int(row[0]) if row else 0

    def set(self, location: str, version: int) -> None:
        with _connect(location) as conn:
            conn.execute("UPDATE schema_version SET version = %s", (int(version),))


def drop_all(url: str) -> None:
    """Drop every schema this process's tests made at ``url``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{_prefix}%",))]
        for name in names:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _connect(location: str) -> Any:
    import psycopg

    conninfo, schema = split_location(location)
    return psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}")
