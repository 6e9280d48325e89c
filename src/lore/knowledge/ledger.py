"""The ledger: every model output the knowledge graph is built from, in a SQLite file beside
the store (``knowledge.db``). Each chunk's output is committed as soon as it is written, so a
killed run loses at most the chunk being read, and the next run goes on from there. Outputs
are kept as written and parsed when the graph is built, so a better parser needs no model.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lore.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS extractions (
    chunk TEXT NOT NULL, extractor TEXT NOT NULL, written TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, written_tokens INTEGER NOT NULL, seconds REAL NOT NULL,
    PRIMARY KEY (chunk, extractor));
CREATE TABLE IF NOT EXISTS summaries (
    community TEXT NOT NULL, extractor TEXT NOT NULL, text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, written_tokens INTEGER NOT NULL, seconds REAL NOT NULL,
    PRIMARY KEY (community, extractor));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Output:
    """One model call's result and what it cost."""

    key: str
    """The chunk's id, or the community's digest."""
    text: str
    prompt_tokens: int
    written_tokens: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Spent:
    calls: int = 0
    prompt_tokens: int = 0
    written_tokens: int = 0
    seconds: float = 0.0

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.calls + other.calls, self.prompt_tokens + other.prompt_tokens,
                     self.written_tokens + other.written_tokens, self.seconds + other.seconds)


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot read the knowledge graph's ledger {path}: {error}; "
                             "move it aside and run `lore index --graph llm` again to "
                             "rebuild it") from None

    def close(self) -> None:
        self._db.close()

    def extracted(self, extractor: str, chunks: Sequence[str]) -> dict[str, str]:
        """The outputs written by ``extractor`` for these chunk ids, by id."""
        found: dict[str, str] = {}
        for start in range(0, len(chunks), 500):
            part = chunks[start:start + 500]
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(
                f"SELECT chunk, written FROM extractions WHERE extractor = ? AND chunk IN "
                f"({marks})", (extractor, *part)).fetchall())
        return found

    def put_extraction(self, extractor: str, output: Output) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO extractions VALUES (?, ?, ?, ?, ?, ?)",
                (output.key, extractor, output.text, output.prompt_tokens,
                 output.written_tokens, output.seconds))

    def summaries(self, extractor: str) -> dict[str, str]:
        return dict(self._db.execute(
            "SELECT community, text FROM summaries WHERE extractor = ?", (extractor,)))

    def put_summary(self, extractor: str, output: Output) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?)",
                             (output.key, extractor, output.text, output.prompt_tokens,
                              output.written_tokens, output.seconds))

    def forget_others(self, extractor: str, kept: Iterable[str]) -> int:
        """Drop ``extractor``'s outputs for chunks no longer in the store; returns how many."""
        wanted = set(kept)
        stale = [chunk for (chunk,) in self._db.execute(
            "SELECT chunk FROM extractions WHERE extractor = ?", (extractor,))
                 if chunk not in wanted]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM extractions WHERE extractor = ? AND chunk = ?",
                                 [(extractor, chunk) for chunk in stale])
        return len(stale)

    def use(self, extractor: str) -> None:
        """Record ``extractor`` as the one whose graph ``lore graph --graph llm`` shows."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('extractor', ?)",
                             (extractor,))

    def extraction_count(self, extractor: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM extractions WHERE extractor = ?",
                                    (extractor,)).fetchone()[0])

    def latest_extractor(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'extractor'").fetchone()
        return str(row[0]) if row else None

    def spent(self, extractor: str) -> Spent:
        """What every kept extraction and summary of ``extractor`` cost."""
        total = Spent()
        for table in ("extractions", "summaries"):
            row = self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
                f"COALESCE(SUM(written_tokens), 0), COALESCE(SUM(seconds), 0) FROM {table} "
                "WHERE extractor = ?", (extractor,)).fetchone()
            total = total + Spent(int(row[0]), int(row[1]), int(row[2]), float(row[3]))
        return total
