"""Append-only numbered schema migrations, applied in order on open.

``PRAGMA user_version`` records how many have run. Never edit a released migration: add one.
"""

from __future__ import annotations

import sqlite3

from lore.errors import SchemaVersionError

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
    """Bring the schema up to date; refuse a store written by a newer lore."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{location} was written by a newer lore (schema {version}, this lore knows "
            f"{SCHEMA_VERSION}); upgrade with `pip install -U lore`"
        )
    for number in range(version, SCHEMA_VERSION):
        # One transaction per migration, version bump included: a crash leaves it undone.
        db.executescript(
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;"
        )
