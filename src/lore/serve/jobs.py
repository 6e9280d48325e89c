"""Background ingestion: jobs that index uploaded files or remove documents, one at a time.

Jobs and documents live in a SQLite file beside the collections, so a restart picks up where
the last run stopped: a job that was queued or running when the server stopped runs again,
and indexing only does what is missing (unchanged files cost nothing). Stopping happens at a
safe point between files or embedding batches, never inside a store transaction.

>>> jobs = Jobs(data_dir / "jobs.db", collections)
>>> jobs.start()
>>> job = jobs.submit_index("docs", [jobs.stage_file("docs", "report.pdf", data)])
>>> jobs.get("docs", job.id).state        # queued, running, done, failed or cancelled
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from lore.serve.collections import CollectionNotFound, Collections
from lore.types import Document, Skipped

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
DocumentState = Literal["queued", "indexed", "failed", "removing"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    files_total INTEGER NOT NULL, files_done INTEGER NOT NULL DEFAULT 0,
    views_total INTEGER NOT NULL DEFAULT 0, views_done INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '', created REAL NOT NULL, finished REAL,
    targets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    job TEXT NOT NULL, state TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
    bytes INTEGER NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_collection ON documents(collection, created);
"""
_SAVE_EVERY = 0.5
"""Seconds between progress writes to the jobs file."""
_UNSAFE = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    collection: str
    kind: str
    """``index`` or ``remove``."""
    state: JobState
    files_total: int
    files_done: int
    views_total: int
    views_done: int
    error: str
    created: float
    finished: float | None


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: str
    collection: str
    name: str
    """The uploaded name, made safe; never a server path."""
    path: str
    job: str
    state: DocumentState
    error: str
    bytes: int
    created: float


class JobStopped(Exception):
    """Raised inside the pipeline at a safe point when the server stops or a collection goes."""


def safe_name(name: str) -> str:
    """An uploaded file's name reduced to one harmless path component."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFKC", name))[-1]
    base = _UNSAFE.sub("_", "".join(c for c in base if c.isprintable())).strip(" .")
    return base[:120] or "document"


class Jobs:
    """Queues, runs and records ingestion jobs on one worker thread."""

    def __init__(self, path: Path, collections: Collections) -> None:
        self.collections = collections
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancelled: set[str] = set()
        self._running: str | None = None
        self._worker: threading.Thread | None = None

    # -- submitting ----------------------------------------------------------------------

    def stage_file(self, collection: str, name: str, data: bytes, key: str | None = None
                   ) -> DocumentRecord:
        """Write an upload under the collection's files folder as a queued document: a new
        one, or, for a ``key`` (a JSON document's own id) uploaded before, that one again,
        its file replaced, so that indexing replaces its text rather than adding a copy."""
        doc_id = ("j" + hashlib.sha256(f"{collection}\0{key}".encode()).hexdigest()[:20]
                  if key else "d" + secrets.token_hex(10))
        folder = self.collections.files_dir(collection) / doc_id
        folder.mkdir(parents=True, exist_ok=key is not None)
        target = folder / safe_name(name)
        staging = folder / ".upload"
        staging.write_bytes(data)
        staging.rename(target)  # the file appears whole or not at all
        return DocumentRecord(doc_id, collection, target.name, str(target), "", "queued", "",
                              len(data), time.time())

    def submit_index(self, collection: str, documents: Sequence[DocumentRecord]) -> JobRecord:
        targets = [d.id for d in documents]
        job = self._new_job(collection, "index", targets)
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, 'queued', '', ?, ?)",
                [(d.id, collection, d.name, d.path, job.id, d.bytes, d.created)
                 for d in documents])
            self._insert_job(job, targets)
        self._wake.set()
        return job

    def submit_remove(self, collection: str, doc_ids: Sequence[str]) -> JobRecord:
        job = self._new_job(collection, "remove", list(doc_ids))
        with self._lock:
            self._db.executemany("UPDATE documents SET state = 'removing' WHERE id = ? AND "
                                 "collection = ?", [(d, collection) for d in doc_ids])
            self._insert_job(job, list(doc_ids))
        self._wake.set()
        return job

    # -- reading -------------------------------------------------------------------------

    def get(self, collection: str, job_id: str) -> JobRecord | None:
        row = self._one("SELECT * FROM jobs WHERE id = ? AND collection = ?",
                        (job_id, collection))
        return _job(row) if row else None

    def jobs(self, collection: str, limit: int = 50) -> list[JobRecord]:
        return [_job(r) for r in self._all("SELECT * FROM jobs WHERE collection = ? ORDER BY "
                                           "created DESC LIMIT ?", (collection, limit))]

    def document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        row = self._one("SELECT * FROM documents WHERE id = ? AND collection = ?",
                        (doc_id, collection))
        return DocumentRecord(*row) if row else None

    def documents(self, collection: str, offset: int = 0, limit: int = 100
                  ) -> tuple[list[DocumentRecord], int]:
        rows = self._all("SELECT * FROM documents WHERE collection = ? ORDER BY created, id "
                         "LIMIT ? OFFSET ?", (collection, limit, offset))
        (total,) = self._one("SELECT count(*) FROM documents WHERE collection = ?",
                             (collection,)) or (0,)
        return [DocumentRecord(*r) for r in rows], int(total)

    def busy(self, collection: str) -> bool:
        return self._one("SELECT 1 FROM jobs WHERE collection = ? AND state IN ('queued', "
                         "'running') LIMIT 1", (collection,)) is not None

    # -- running -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def start(self) -> None:
        """Start the worker; jobs left queued or running by a previous run go first."""
        self._stopping.clear()
        self._worker = threading.Thread(target=self._work, name="lore-ingest", daemon=True)
        self._worker.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop at the next safe point; the running job stays queued for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._db.close()

    def cancel_collection(self, collection: str) -> None:
        """Cancel the collection's jobs and wait for a running one to stop (it is deleted)."""
        with self._lock:
            self._cancelled.add(collection)
            self._db.execute("UPDATE jobs SET state = 'cancelled', finished = ? WHERE "
                             "collection = ? AND state = 'queued'", (time.time(), collection))
            self._db.execute("DELETE FROM documents WHERE collection = ?", (collection,))
        while self._running == collection:
            time.sleep(0.01)
        with self._lock:
            self._cancelled.discard(collection)

    def _work(self) -> None:
        while not self._stopping.is_set():
            row = self._one("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY "
                            "created LIMIT 1")
            if row is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(_job(row))

    def _run(self, job: JobRecord) -> None:
        self._running = job.collection
        progress = _Progress(self, job)
        self._set(job.id, state="running")
        try:
            final = self._outcome(job, progress)
            progress.save()  # first: a client that sees the job finished sees its last counts
            self._set(job.id, **final)
        finally:
            self._running = None

    def _outcome(self, job: JobRecord, progress: _Progress) -> dict[str, object]:
        """Run ``job``; the columns its row ends with."""
        try:
            if job.kind == "index":
                self._index(job, progress)
            else:
                self._remove(job)
        except JobStopped:
            return {"state": "cancelled" if job.collection in self._cancelled else "queued"}
        except CollectionNotFound:
            return {"state": "cancelled", "finished": time.time()}
        except Exception as exc:  # one bad job never stops the worker
            return {"state": "failed", "error": f"{type(exc).__name__}: {exc}",
                    "finished": time.time()}
        return {"state": "done", "finished": time.time()}

    def _index(self, job: JobRecord, progress: _Progress) -> None:
        documents = self._documents_of(job)
        kb = self.collections.writer(job.collection)
        kb.index([Path(d.path) for d in documents], listener=progress)
        indexed = kb.indexed_files()
        with self._lock:
            for document in documents:
                ok = str(Path(document.path).resolve()) in indexed
                reason = progress.reasons.get(str(Path(document.path).resolve()), "")
                self._db.execute("UPDATE documents SET state = ?, error = ? WHERE id = ?",
                                 ("indexed" if ok else "failed",
                                  reason or ("" if ok else "no text found"), document.id))

    def _remove(self, job: JobRecord) -> None:
        documents = self._documents_of(job)
        self.collections.writer(job.collection).remove([Path(d.path) for d in documents])
        for document in documents:
            shutil.rmtree(Path(document.path).parent, ignore_errors=True)
        with self._lock:
            self._db.executemany("DELETE FROM documents WHERE id = ?",
                                 [(d.id,) for d in documents])

    def _should_stop(self, job: JobRecord) -> bool:
        return self._stopping.is_set() or job.collection in self._cancelled

    # -- storage -------------------------------------------------------------------------

    def _new_job(self, collection: str, kind: str, targets: list[str]) -> JobRecord:
        return JobRecord("j" + secrets.token_hex(10), collection, kind, "queued", len(targets),
                         0, 0, 0, "", time.time(), None)

    def _insert_job(self, job: JobRecord, targets: list[str]) -> None:
        self._db.execute("INSERT INTO jobs VALUES (?, ?, ?, 'queued', ?, 0, 0, 0, '', ?, NULL, "
                         "?)", (job.id, job.collection, job.kind, job.files_total, job.created,
                                json.dumps(targets)))

    def _documents_of(self, job: JobRecord) -> list[DocumentRecord]:
        row = self._one("SELECT targets FROM jobs WHERE id = ?", (job.id,))
        ids = json.loads(str(row[0])) if row else []
        marks = ", ".join("?" * len(ids))
        return [DocumentRecord(*r) for r in self._all(
            f"SELECT * FROM documents WHERE collection = ? AND id IN ({marks}) ORDER BY created",
            (job.collection, *ids))]

    def _set(self, job_id: str, **values: object) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?",
                             (*values.values(), job_id))

    def _one(self, query: str, params: Sequence[object] = ()) -> Any:
        with self._lock:
            return self._db.execute(query, params).fetchone()

    def _all(self, query: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(query, params).fetchall()


class _Progress:
    """The pipeline's listener for one job: counts progress, saves it, stops when told."""

    def __init__(self, jobs: Jobs, job: JobRecord) -> None:
        self._jobs, self._job = jobs, job
        self.files_done = self.views_total = self.views_done = 0
        self.reasons: dict[str, str] = {}
        self._saved = 0.0

    def on_scanned(self, files: int) -> None:
        self._checkpoint()

    def on_file(self, path: str) -> None:
        self._checkpoint()
        self.files_done += 1

    def on_to_embed(self, views: int) -> None:
        self.views_total += views

    def on_embedded(self, views: int) -> None:
        self.views_done += views
        self._checkpoint()

    def on_indexed(self, document: Document, chunks: int) -> None:
        pass

    def on_concepts(self, done: int, total: int) -> None:
        pass

    def on_skipped(self, skipped: Skipped) -> None:
        previous = self.reasons.get(skipped.path)
        self.reasons[skipped.path] = f"{previous}; {skipped.reason}" if previous else skipped.reason

    def save(self) -> None:
        self._jobs._set(self._job.id, files_done=self.files_done, views_total=self.views_total,
                        views_done=self.views_done)
        self._saved = time.monotonic()

    def _checkpoint(self) -> None:
        """A safe point: stop here if asked, and save progress now and then."""
        if self._jobs._should_stop(self._job):
            raise JobStopped(self._job.id)
        if time.monotonic() - self._saved >= _SAVE_EVERY:
            self.save()


def _job(row: Any) -> JobRecord:
    return JobRecord(*row[:len(fields(JobRecord))])


def record_dict(record: JobRecord | DocumentRecord) -> dict[str, object]:
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    values.pop("path", None)  # a server path never leaves the server
    return values

