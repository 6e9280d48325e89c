"""PostgresStore keeps every ``Store`` promise (``StoreContract``) on a real PostgreSQL with
pgvector; below it, what only a server has: URLs, schemas, a server that is not there."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest

from lore.errors import StoreError
from lore.store.postgres import PostgresStore, glob_regex, redacted, split_location
from lore.store.protocol import DocumentWrite, StoreOpener
from lore.testing import postgres
from lore.testing.store_contract import NewLocation, SchemaRecord, StoreContract
from lore.testing.store_processes import batch, document, write


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def new_location(self, server: str) -> NewLocation:
        return lambda: postgres.location(server)

    @pytest.fixture
    def opener(self) -> StoreOpener:
        return PostgresStore

    @pytest.fixture
    def schema_record(self) -> SchemaRecord:
        return postgres.PostgresSchemaRecord()


def test_two_collections_in_one_database_are_apart(server: str) -> None:
    first, second = postgres.location(server), postgres.location(server)
    with closing(PostgresStore(first)) as a, closing(PostgresStore(second)) as b:
        write(a, document("/kb/a.md", ["Only in the first."]))
        assert (a.document_count(), b.document_count()) == (1, 0)


def test_vectors_come_back_as_they_went(server: str) -> None:
    written = document("/kb/a.md", ["One.", "Two."])
    rows = np.random.default_rng(0).normal(size=(2, 384)).astype(np.float32)
    with closing(PostgresStore(postgres.location(server))) as store:
        write(store, written)
        store.put_vectors([c.view_hash for c in written.chunks], rows)
        keys, matrix = store.chunk_vectors(dim=384)
        assert matrix.dtype == np.float32
        assert np.array_equal(matrix[np.argsort(keys)], rows)


class _DroppingMidway(Sequence[DocumentWrite]):
    """Documents that, the first time the write reaches the ``at``-th, end every server
    connection of the store's schema, as a restarted server or a network cut would."""

    def __init__(self, items: list[DocumentWrite], at: int, server: str, schema: str) -> None:
        self.items, self.at, self.server, self.schema, self.dropped = items, at, server, schema, 0

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> DocumentWrite: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[DocumentWrite]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if index == self.at and not self.dropped:
            self.dropped = _drop_connections(self.server, self.schema)
        return self.items[index]


def _drop_connections(server: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = %s", (f"lore:{schema}",)).fetchall())


def test_a_connection_dropped_midway_through_a_write_is_retried_and_loses_nothing(
        server: str) -> None:
    location = postgres.location(server)
    with closing(PostgresStore(location)) as store:
        write(store, *batch("old", 2, 2))
        _drop_connections(server, store.schema)  # idle pooled connections die too
        assert store.document_count() == 2
        documents = _DroppingMidway(batch("new", 6, 3), 3, server, store.schema)
        written = store.write(documents)
        assert documents.dropped >= 1 and written.chunks_added == 18
        assert (store.document_count(), store.chunk_count()) == (8, 22)
        assert len(store.changes_since(0)) == 22


def test_an_unreachable_server_is_one_line_that_names_the_fix() -> None:
    with pytest.raises(StoreError, match=r"cannot reach the PostgreSQL store "
                       r"postgresql://lore:\*\*\*@127.0.0.1:9/x\S*: .*Connection refused; "
                       "check the host, port"):
        PostgresStore("postgresql://lore:secret@127.0.0.1:9/x?connect_timeout=2")


def test_a_database_without_pgvector_that_the_user_may_not_enable_says_who_can(
        server: str) -> None:
    import psycopg

    name = f"noext_{os.getpid()}"
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN")
            conn.execute(f"CREATE DATABASE {name} OWNER {name}")
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("making a role and a database needs a superuser of the test server")
    try:
        parts = urlsplit(server)
        plain = urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname or ''}"
                                          + (f":{parts.port}" if parts.port else ""),
                                          path=f"/{name}"))
        with pytest.raises(StoreError, match="pgvector is not enabled in the database of "
                           ".*ask a superuser of the server to run CREATE EXTENSION vector"):
            PostgresStore(plain)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name}")
            conn.execute(f"DROP ROLE {name}")


def test_a_wrong_password_is_one_line_that_names_the_fix(server: str) -> None:
    import psycopg

    name = f"pw_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        superuser, hba_file = conn.execute(
            "SELECT rolsuper, current_setting('hba_file') FROM pg_roles WHERE rolname = "
            "current_user").fetchall()[0]
        if not superuser:
            pytest.skip("asking for a password needs a superuser of the test server")
        hba = Path(hba_file)
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'right-password'")
    original = hba.read_text()
    try:
        # This role alone must give a password; every other login stays as it was.
        hba.write_text(f"local all {name} scram-sha-256\nhost all {name} 127.0.0.1/32 "
                       f"scram-sha-256\n" + original)
        _reload(server)
        parts = urlsplit(server)
        wrong = urlunsplit(parts._replace(netloc=f"{name}:not-it@{parts.hostname or ''}"
                                          + (f":{parts.port}" if parts.port else "")))
        with pytest.raises(StoreError) as raised:
            PostgresStore(wrong)
        message = str(raised.value)
        assert "\n" not in message and "not-it" not in message
        assert f"the PostgreSQL server refused the password of {name}" in message
        assert "check the password in the URL" in message
    finally:
        hba.write_text(original)
        _reload(server)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {name}")


def _reload(server: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


def test_a_schema_that_is_no_plain_name_is_refused() -> None:
    with pytest.raises(StoreError, match="is not a plain name"):
        split_location("postgresql://h/db?schema=x;drop")


def test_the_schema_parameter_is_lore_s_own() -> None:
    assert split_location("postgresql://u@h/db?sslmode=require&schema=kb2") == (
        "postgresql://u@h/db?sslmode=require", "kb2")
    assert split_location("postgresql://u@h/db")[1] == "lore"
    assert redacted("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redacted("postgresql://u:@h/db") == "postgresql://u:@h/db"


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.md", "/a/b.md", True), ("/a/?.md", "/a/b.md", True), ("/a/?.md", "/a/bc.md", False),
    ("/[ab]/x", "/b/x", True), ("/[^ab]/x", "/b/x", False), ("a.md", "/x/aXmd", False),
    ("/p/(x)+", "/p/(x)+", True),
])
def test_globs_become_regular_expressions(pattern: str, path: str, matches: bool) -> None:
    import re

    assert bool(re.match(glob_regex(pattern), path)) is matches
