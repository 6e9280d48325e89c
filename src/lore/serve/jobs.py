"""Background ingestion: jobs that index uploaded files or remove documents, one at a time.

Jobs and documents live in the server's tables (``lore.serve.control``), so a restart picks
up where the last run stopped: a job that was queued or running when the server stopped runs
again, and indexing only does what is missing (unchanged files cost nothing). Stopping
happens at a safe point between files or embedding batches, never inside a store transaction.

Replicas over one PostgreSQL store share the queue. A worker claims a job with ``FOR UPDATE
SKIP LOCKED`` and keeps a lease on it by writing a heartbeat; a job whose lease ran out (its
server died) is claimed again by another, and a worker that finds its lease gone (the job was
cancelled or taken over) stops at its next safe point and writes nothing more to the job.

>>> jobs = Jobs(open_control(config, "jobs"), collections, lease=30.0)
>>> jobs.start()
>>> job = jobs.submit_index("docs", [jobs.stage_file("docs", "report.pdf", data)])
>>> jobs.get("docs", job.id).state        # queued, running, done, failed or cancelled
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from lore.serve.collections import CollectionNotFound, Collections
from lore.serve.control import ControlDb, add_missing_columns, create_tables
from lore.types import Document, Skipped

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
DocumentState = Literal["queued", "indexed", "failed", "removing"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    files_total INTEGER NOT NULL, files_done INTEGER NOT NULL DEFAULT 0,
    views_total INTEGER NOT NULL DEFAULT 0, views_done INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '', created DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION, targets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    job TEXT NOT NULL, state TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
    bytes BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_collection ON documents(collection, created)
"""
_LEASE_COLUMNS = {"owner": "TEXT NOT NULL DEFAULT ''",
                  "heartbeat": "DOUBLE PRECISION NOT NULL DEFAULT 0",
                  "attempts": "INTEGER NOT NULL DEFAULT 0"}
"""Added after the first release: a file written by an older server gains them."""
_JOB = ("id, collection, kind, state, files_total, files_done, views_total, views_done, error, "
        "created, finished, attempts")
_DOCUMENT = "id, collection, name, path, job, state, error, bytes, created"
_SAVE_EVERY = 0.5
"""Seconds between progress writes to the jobs table."""
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
    attempts: int
    """How many times a worker took it up: 1 unless a server stopped or died running it."""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: str
    collection: str
    name: str
    """The uploaded name, made safe; never a server path."""
    path: str
    """What the store calls the file."""
    job: str
    state: DocumentState
    error: str
    bytes: int
    created: float


class JobStopped(Exception):
    """Raised inside the pipeline at a safe point when the server stops, a collection goes,
    or the job's lease is lost."""


def safe_name(name: str) -> str:
    """An uploaded file's name reduced to one harmless path component."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFKC", name))[-1]
    base = _UNSAFE.sub("_", "".join(c for c in base if c.isprintable())).strip(" .")
    return base[:120] or "document"


class Jobs:
    """Queues, runs and records ingestion jobs on one worker thread.

    Args:
        db: the server's tables.
        collections: where the jobs' documents go.
        lease: seconds after its last heartbeat that a running job is taken to be abandoned.
    """

    def __init__(self, db: ControlDb, collections: Collections, lease: float = 30.0) -> None:
        self.collections = collections
        self.lease = lease
        self._db = db
        create_tables(db, _SCHEMA)
        add_missing_columns(db, "jobs", _LEASE_COLUMNS)
        self._owner = secrets.token_hex(8)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lost: set[str] = set()
        """Jobs whose lease this worker lost: cancelled, or claimed by another server."""
        self._cancelled: set[str] = set()
        self._running: JobRecord | None = None
        self._threads: list[threading.Thread] = []

    # -- submitting ----------------------------------------------------------------------

    def stage_file(self, collection: str, name: str, data: bytes, key: str | None = None
                   ) -> DocumentRecord:
        """Keep an upload as a queued document: a new one, or, for a ``key`` (a JSON
        document's own id) uploaded before, that one again, its file replaced, so that
        indexing replaces its text rather than adding a copy."""
        doc_id = ("j" + hashlib.sha256(f"{collection}\0{key}".encode()).hexdigest()[:20]
                  if key else "d" + secrets.token_hex(10))
        place = self.collections.place(collection)
        file_name = safe_name(name)
        self.collections.catalog.put_file(place, doc_id, file_name, data)
        return DocumentRecord(doc_id, collection, file_name, place.stored_upload(doc_id, file_name),
                              "", "queued", "", len(data), time.time())

    def submit_index(self, collection: str, documents: Sequence[DocumentRecord]) -> JobRecord:
        targets = [d.id for d in documents]
        job = self._new_job(collection, "index", targets)
        with self._db.transaction() as tx:
            tx.executemany(
                f"INSERT INTO documents ({_DOCUMENT}) VALUES (?, ?, ?, ?, ?, 'queued', '', ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET collection = excluded.collection, name = "
                "excluded.name, path = excluded.path, job = excluded.job, state = 'queued', "
                "error = '', bytes = excluded.bytes, created = excluded.created",
                [(d.id, collection, d.name, d.path, job.id, d.bytes, d.created)
                 for d in documents])
            self._insert_job(tx, job, targets)
        self._wake.set()
        return job

    def submit_remove(self, collection: str, doc_ids: Sequence[str]) -> JobRecord:
        job = self._new_job(collection, "remove", list(doc_ids))
        with self._db.transaction() as tx:
            tx.executemany("UPDATE documents SET state = 'removing' WHERE id = ? AND "
                           "collection = ?", [(d, collection) for d in doc_ids])
            self._insert_job(tx, job, list(doc_ids))
        self._wake.set()
        return job

    # -- reading -------------------------------------------------------------------------

    def get(self, collection: str, job_id: str) -> JobRecord | None:
        row = self._db.one(f"SELECT {_JOB} FROM jobs WHERE id = ? AND collection = ?",
                           (job_id, collection))
        return JobRecord(*row) if row else None

    def jobs(self, collection: str, limit: int = 50) -> list[JobRecord]:
        return [JobRecord(*r) for r in self._db.all(
            f"SELECT {_JOB} FROM jobs WHERE collection = ? ORDER BY created DESC LIMIT ?",
            (collection, limit))]

    def document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        row = self._db.one(f"SELECT {_DOCUMENT} FROM documents WHERE id = ? AND "
                           "collection = ?", (doc_id, collection))
        return DocumentRecord(*row) if row else None

    def documents(self, collection: str, offset: int = 0, limit: int = 100
                  ) -> tuple[list[DocumentRecord], int]:
        rows = self._db.all(f"SELECT {_DOCUMENT} FROM documents WHERE collection = ? ORDER BY "
                            "created, id LIMIT ? OFFSET ?", (collection, limit, offset))
        (total,) = self._db.one("SELECT count(*) FROM documents WHERE collection = ?",
                                (collection,)) or (0,)
        return [DocumentRecord(*r) for r in rows], int(total)

    def busy(self, collection: str) -> bool:
        return self._db.one("SELECT 1 FROM jobs WHERE collection = ? AND state IN ('queued', "
                            "'running') LIMIT 1", (collection,)) is not None

    # -- running -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def start(self) -> None:
        """Start the worker; jobs left queued or running by a previous run go first."""
        if not self._db.shared:  # no other server uses this file: what ran was ours
            self._db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
        self._stopping.clear()
        self._threads = [threading.Thread(target=self._work, name="lore-ingest", daemon=True),
                         threading.Thread(target=self._beat, name="lore-lease", daemon=True)]
        for thread in self._threads:
            thread.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop at the next safe point; the running job stays queued for the next start."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def close(self) -> None:
        self.stop()
        self._db.close()

    def cancel_collection(self, collection: str) -> None:
        """Cancel the collection's jobs and wait for one running here to stop (it is
        deleted); a job running on another server loses its lease and stops there."""
        self._cancelled.add(collection)
        with self._db.transaction() as tx:
            tx.execute("UPDATE jobs SET state = 'cancelled', finished = ? WHERE collection = ? "
                       "AND state IN ('queued', 'running')", (time.time(), collection))
            tx.execute("DELETE FROM documents WHERE collection = ?", (collection,))
        while (running := self._running) is not None and running.collection == collection:
            time.sleep(0.01)
        self._cancelled.discard(collection)

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self._claim()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _claim(self) -> JobRecord | None:
        """Take the oldest job that is queued or whose lease ran out, or None."""
        now = time.time()
        with self._db.transaction() as tx:
            row = tx.one("SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND "
                         f"heartbeat < ?) ORDER BY created LIMIT 1{self._db.claim}",
                         (now - self.lease,))
            if row is None:
                return None
            tx.execute("UPDATE jobs SET state = 'running', owner = ?, heartbeat = ?, attempts = "
                       "attempts + 1 WHERE id = ?", (self._owner, now, row[0]))
            return JobRecord(*tx.one(f"SELECT {_JOB} FROM jobs WHERE id = ?", (row[0],)))

    def _beat(self) -> None:
        """Renew the lease of the running job; note when it is gone."""
        while not self._stopping.wait(self.lease / 3):
            job = self._running
            if job is not None and self._db.execute(
                    "UPDATE jobs SET heartbeat = ? WHERE id = ? AND owner = ? AND state = "
                    "'running'", (time.time(), job.id, self._owner)) == 0:
                self._lost.add(job.id)

    def _run(self, job: JobRecord) -> None:
        self._running = job
        progress = _Progress(self, job)
        try:
            final = self._outcome(job, progress)
            progress.save()  # first: a client that sees the job finished sees its last counts
            self._set(job.id, **final)
        finally:
            self._running = None
            self._lost.discard(job.id)

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
        place = self.collections.place(job.collection)
        catalog = self.collections.catalog
        files = [catalog.local_file(place, d.id, d.name) for d in documents]
        kb = self.collections.writer(job.collection)
        kb.index(files, listener=progress, stored_as=place.naming)
        indexed = kb.indexed_files()
        states = []
        for document in documents:
            stored = place.stored_upload(document.id, document.name)
            reason = progress.reasons.get(stored, "")
            ok = stored in indexed
            states.append(("indexed" if ok else "failed",
                           reason or ("" if ok else "no text found"), document.id))
        self._db.executemany("UPDATE documents SET state = ?, error = ? WHERE id = ?", states)

    def _remove(self, job: JobRecord) -> None:
        documents = self._documents_of(job)
        place = self.collections.place(job.collection)
        self.collections.writer(job.collection).remove(
            [place.stored_upload(d.id, d.name) for d in documents])
        for document in documents:
            self.collections.catalog.drop_file(place, document.id)
        self._db.executemany("DELETE FROM documents WHERE id = ?", [(d.id,) for d in documents])

    def _should_stop(self, job: JobRecord) -> bool:
        return (self._stopping.is_set() or job.id in self._lost
                or job.collection in self._cancelled)

    # -- storage -------------------------------------------------------------------------

    def _new_job(self, collection: str, kind: str, targets: list[str]) -> JobRecord:
        return JobRecord("j" + secrets.token_hex(10), collection, kind, "queued", len(targets),
                         0, 0, 0, "", time.time(), None, 0)

    def _insert_job(self, tx: Any, job: JobRecord, targets: list[str]) -> None:
        tx.execute("INSERT INTO jobs (id, collection, kind, state, files_total, created, "
                   "targets) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                   (job.id, job.collection, job.kind, job.files_total, job.created,
                    json.dumps(targets)))

    def _documents_of(self, job: JobRecord) -> list[DocumentRecord]:
        row = self._db.one("SELECT targets FROM jobs WHERE id = ?", (job.id,))
        ids = json.loads(str(row[0])) if row else []
        marks = ", ".join("?" * len(ids))
        return [DocumentRecord(*r) for r in self._db.all(
            f"SELECT {_DOCUMENT} FROM documents WHERE collection = ? AND id IN ({marks}) "
            "ORDER BY created", (job.collection, *ids))]

    def _set(self, job_id: str, **values: object) -> None:
        """Write a job's columns, unless its lease is no longer this worker's."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ? AND owner = ? AND state "
                         "= 'running'", (*values.values(), job_id, self._owner))


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


def record_dict(record: JobRecord | DocumentRecord) -> dict[str, object]:
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    values.pop("path", None)  # a server path never leaves the server
    return values

