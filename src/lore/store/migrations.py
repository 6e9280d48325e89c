"""Append-only numbered schema migrations, applied in order on open.

``PRAGMA user_version`` records how many have run. Never edit a released migration: add one.
"""

from __future__ import annotations

import sqlite3

from lore.errors import SchemaVersionError, StoreError

M001_CREATE_TABLES = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE files (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            hash TEXT NOT NULL,
            indexed_at TEXT NOT NULL
        );
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            key TEXT NOT NULL,
            title TEXT NOT NULL,
            format TEXT NOT NULL,
            language TEXT NOT NULL,
            mtime REAL NOT NULL,
            hash TEXT NOT NULL,
            text TEXT NOT NULL,
            meta TEXT NOT NULL
        );
        CREATE INDEX documents_by_path ON documents(path);
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ord INTEGER NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            line_start INTEGER,
            line_end INTEGER,
            page INTEGER,
            kind TEXT NOT NULL,
            section TEXT NOT NULL,
            parent_start INTEGER,
            parent_end INTEGER,
            symbol TEXT NOT NULL,
            text TEXT NOT NULL,
            view TEXT NOT NULL,
            view_hash TEXT NOT NULL
        );
        CREATE INDEX chunks_by_doc ON chunks(doc_id);
        CREATE INDEX chunks_by_view ON chunks(view_hash);
        CREATE TABLE vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk INTEGER NOT NULL,
            added INTEGER NOT NULL
        );
        CREATE VIRTUAL TABLE chunk_terms USING fts5(terms, tokenize = 'unicode61');
"""


MIGRATIONS: tuple[str, ...] = (M001_CREATE_TABLES,)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, location: str) -> None:
    """Bring the schema up to date; refuse a store written by a newer lore.

    Each migration runs in its own write transaction, and the version is read again once the
    write lock is held: two processes opening a new store at once both see version 0, and
    the second must find the first one's work done rather than create the tables twice. A
    store already up to date is only read, so opening it never waits for a writer.
    """
    (version,) = db.execute("PRAGMA user_version").fetchone()
    check_version(version, location)
    if version == SCHEMA_VERSION:
        return
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            check_version(version, location)
            if version == SCHEMA_VERSION:
                db.execute("COMMIT")
                return
            _apply(db, version, location)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def check_version(version: int, location: str) -> None:
    """Refuse a version this lore cannot read: newer than it knows, or negative."""
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{location} was written by a newer lore (schema {version}, this lore knows "
            f"{SCHEMA_VERSION}); upgrade with `pip install -U lore`"
        )
    if version < 0:
        raise SchemaVersionError(
            f"{location} says schema version {version}, which no lore writes: another program "
            "changed it; restore it from a backup, or move it aside and index again")


def check_read_only(db: sqlite3.Connection, location: str) -> None:
    """Refuse a store this process may only read unless it is at ``SCHEMA_VERSION``: without
    write access it cannot be migrated."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    check_version(version, location)
    if version != SCHEMA_VERSION:
        raise StoreError(f"{location} is read-only for this user and has schema {version}, "
                         f"not {SCHEMA_VERSION}: open it once with write access to upgrade it")


def _apply(db: sqlite3.Connection, version: int, location: str) -> None:
    """Migration ``version + 1``, statement by statement inside the caller's transaction."""
    try:
        for statement in _statements(MIGRATIONS[version]):
            db.execute(statement)
    except sqlite3.OperationalError as exc:
        raise SchemaVersionError(
            f"{location} says schema version {version}, but upgrading it failed ({exc}): the "
            "file does not match its version, so another program changed it; restore it "
            "from a backup, or move it aside and index again") from None
    db.execute(f"PRAGMA user_version = {version + 1}")


def _statements(script: str) -> list[str]:
    """The SQL statements of ``script``, split where ``sqlite3.complete_statement`` says."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
