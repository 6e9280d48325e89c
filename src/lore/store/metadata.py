"""Questions about the collection itself, answered in SQL: one read-only ``SELECT`` over a
documented view of the SQLite store (``documents``), run on a read-only connection whose
authorizer lets through reads of that view and a list of harmless functions, nothing else,
within a time limit and a row limit.

The statement usually comes from a language model (``lore.query``), so it is treated as
hostile: a write, an ``ATTACH``, a pragma, a second statement or an unknown function is
refused with ``QueryError`` before or while SQLite prepares it, and a runaway query is
interrupted.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lore.errors import QueryError, StoreError

VIEW = "documents"
VIEW_SQL = """
CREATE TEMP VIEW documents AS
SELECT d.path AS path,
       replace(d.path, rtrim(d.path, replace(d.path, '/', '')), '') AS name,
       d.key AS record,
       d.title AS title,
       d.format AS format,
       d.language AS language,
       f.size AS bytes,
       datetime(d.mtime, 'unixepoch', 'localtime') AS modified,
       replace(substr(f.indexed_at, 1, 19), 'T', ' ') AS indexed,
       (SELECT count(*) FROM main.chunks AS c WHERE c.doc_id = d.id) AS chunks
FROM main.documents AS d LEFT JOIN main.files AS f ON f.path = d.path
"""
COPY_TABLES = (
    "CREATE TABLE documents (id TEXT, path TEXT, key TEXT, title TEXT, format TEXT, "
    "language TEXT, mtime REAL, chunks INTEGER)",
    "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, indexed_at TEXT)")
"""A copy of what the view reads, for a store that is no SQLite file (``query_copy``): each
document's chunks counted already."""
COPY_VIEW_SQL = VIEW_SQL.replace(
    "(SELECT count(*) FROM main.chunks AS c WHERE c.doc_id = d.id)", "d.chunks")
SCHEMA = """\
documents(          -- one row per indexed document (a file, or one record of a JSONL file)
  path TEXT,        -- absolute path of the file, e.g. '/home/me/docs/report.pdf'
  name TEXT,        -- file name with its extension, e.g. 'report.pdf'; match names on it
  record TEXT,      -- the record's id inside a JSONL file; '' for a whole file
  title TEXT,       -- the document's title or first heading; may be ''
  format TEXT,      -- 'pdf', 'markdown', 'html', 'text', 'jsonl', or a programming
                    --   language such as 'python', 'javascript', 'go', 'rust'
  language TEXT,    -- 'en' or 'zh' for prose; the programming language for code
  bytes INTEGER,    -- size of the file in bytes
  modified TEXT,    -- when the file was last modified, local time 'YYYY-MM-DD HH:MM:SS';
                    --   a year is modified LIKE '2024%'
  indexed TEXT,     -- when lore last indexed (added or updated) it, same format
  chunks INTEGER    -- how many chunks it was split into
)"""
"""The view as a language model is shown it (``docs/query.md`` documents the same)."""

FUNCTIONS = frozenset({
    "count", "sum", "total", "avg", "min", "max", "group_concat", "abs", "round",
    "coalesce", "ifnull", "nullif", "iif", "length", "lower", "upper", "substr", "substring",
    "instr", "replace", "trim", "ltrim", "rtrim", "like", "glob", "printf", "format", "date",
    "time", "datetime", "julianday", "strftime", "unixepoch",
})
"""Functions a metadata query may call: aggregates, text and dates. Everything else
(``load_extension``, ``randomblob``, ...) is refused."""
CELL_CHARS = 300
"""A longer value is cut in the result: rows are answers, not document texts."""
_STARTS = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MetadataRows:
    """What a metadata query returned."""

    sql: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    truncated: bool = False
    """More rows matched than the row limit let through."""


def query_metadata(path: Path, statement: str, row_limit: int, seconds: float
                   ) -> MetadataRows:
    """Run one read-only ``SELECT`` over the ``documents`` view of the store at ``path``.

    Raises:
        QueryError: the statement is not one ``SELECT``, touches anything but the view or an
            allowed function, fails to prepare, or runs past ``seconds``; the message says
            which.
    """
    statement = _one_select(statement)
    db = _read_only(path)
    try:
        return _run(db, VIEW_SQL, statement, row_limit, seconds)
    finally:
        db.close()


DocumentRow = tuple[str, str, str, str, str, str, float, int | None, str | None, int]
"""id, path, key, title, format, language, mtime, file size, indexed at, chunks."""


def query_copy(documents: Iterable[DocumentRow], statement: str, row_limit: int,
               seconds: float) -> MetadataRows:
    """``query_metadata`` for a store that is no SQLite file: ``documents`` (read from it in
    one state) are copied into an in-memory database that the same view, guard and SQL
    dialect then read."""
    statement = _one_select(statement)
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for table in COPY_TABLES:
            db.execute(table)
        rows = list(documents)
        db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(*row[:7], row[9]) for row in rows])
        db.executemany("INSERT OR IGNORE INTO files VALUES (?, ?, ?)",
                       [(row[1], row[7], row[8]) for row in rows if row[7] is not None])
        return _run(db, COPY_VIEW_SQL, statement, row_limit, seconds)
    finally:
        db.close()


def _one_select(statement: str) -> str:
    statement = statement.strip().rstrip(";").strip()
    if not _STARTS.match(statement):
        raise QueryError(f"refused metadata query {statement[:80]!r}: only one SELECT over "
                         f"the {VIEW} view may run")
    return statement


def _run(db: sqlite3.Connection, view_sql: str, statement: str, row_limit: int,
         seconds: float) -> MetadataRows:
    """``statement`` over the view ``view_sql`` makes, with the guard and the limits."""
    db.execute(view_sql)  # in the connection's own temp schema: the file is not written
    db.execute("PRAGMA query_only = ON")
    db.set_authorizer(_authorize)
    deadline = time.monotonic() + seconds
    db.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        cursor = db.execute(statement)
        rows = cursor.fetchmany(row_limit + 1)
    except sqlite3.Error as error:
        raise QueryError(_refusal(statement, error, seconds)) from None
    columns = tuple(column[0] for column in cursor.description or ())
    kept = tuple(tuple(_cell(value) for value in row) for row in rows[:row_limit])
    return MetadataRows(statement, columns, kept, truncated=len(rows) > row_limit)


def _read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no store at {path}: metadata queries read a knowledge base's "
                         "lore.db; index something first")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           isolation_level=None)


_VIEW_SOURCES = {("documents", "path"), ("documents", "key"), ("documents", "title"),
                 ("documents", "format"), ("documents", "language"), ("documents", "mtime"),
                 ("documents", "id"), ("documents", "chunks"), ("files", "size"),
                 ("files", "indexed_at"), ("files", "path"), ("chunks", "doc_id")}
"""The stored columns the view reads: a statement may reach them only through the view."""


def _authorize(action: int, first: str | None, second: str | None, database: str | None,
               inside: str | None) -> int:
    """SQLite's authorizer: reads of the view (and of the tables it reads, from inside it),
    allowed functions and the SELECT itself; everything else is denied."""
    if action == sqlite3.SQLITE_SELECT:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ:
        if database == "temp" and first == VIEW:
            return sqlite3.SQLITE_OK
        inside_view = database == "main" and inside == VIEW
        if inside_view and (first, second) in _VIEW_SOURCES:
            return sqlite3.SQLITE_OK
        # A CTE's own columns are read with no table.
        return sqlite3.SQLITE_OK if database is None and first is None else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_OK if (second or "").lower() in FUNCTIONS else sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_DENY


def _refusal(statement: str, error: sqlite3.Error, seconds: float) -> str:
    reason = str(error)
    if "interrupted" in reason:
        reason = f"it ran past {seconds:g} s"
    elif "not authorized" in reason or "prohibited" in reason:
        reason = (f"{reason}: a metadata query may only read the {VIEW} view "
                  "with aggregate, text and date functions")
    return f"refused metadata query {statement[:200]!r}: {reason}"


def _cell(value: object) -> object:
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return value[:CELL_CHARS] + "…"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
