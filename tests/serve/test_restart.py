"""Graceful shutdown: ingestion stops at a safe point and resumes on the next start without
loss; answers in flight finish."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lore.testing.models import needs_smollm2
from lore.testing.server import add_documents, bearer, make_app, serving, wait_for_job

pytestmark = pytest.mark.slow
COUNT = 150


def test_ingestion_resumes_after_a_stop(tmp_path: Path) -> None:
    documents = [{"id": f"doc-{i}", "title": f"Note {i}",
                  "text": f"Note number {i} says the sweeper visits shelf {i * 7}."}
                 for i in range(COUNT)]
    first = make_app(tmp_path / "server")
    server = first.state.server
    token = server.keys.create("*", "admin")
    with TestClient(first) as client:
        client.post("/collections", json={"name": "notes"}, headers=bearer(token))
        job = client.post("/collections/notes/documents", json={"documents": documents},
                          headers=bearer(token)).json()["job"]["id"]
        deadline = time.monotonic() + 30
        while server.jobs.get("notes", job).state == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.005)
    # Leaving the client ran the app's shutdown: the worker stopped at a safe point.
    second = make_app(tmp_path / "server")
    stopped = second.state.server.jobs.get("notes", job)  # read before its worker starts
    assert stopped.state == "queued"
    assert stopped.files_done < COUNT
    with TestClient(second) as client:
        finished = wait_for_job(client, "notes", job, bearer(token))
        assert finished["state"] == "done"
        listed = client.get("/collections/notes/documents", params={"limit": 1000},
                            headers=bearer(token)).json()
        assert listed["total"] == COUNT
        assert {d["state"] for d in listed["documents"]} == {"indexed"}
        assert client.get("/collections/notes", headers=bearer(token)).json()["documents"] \
            == COUNT
        hits = client.get("/collections/notes/search", params={"q": "shelf 693", "k": 1},
                          headers=bearer(token)).json()["hits"]
        assert hits[0]["doc_key"] == "doc-99"


@needs_smollm2
def test_an_answer_in_flight_finishes_during_shutdown(tmp_path: Path) -> None:
    app = make_app(tmp_path / "server", LORE_GENERATOR="smollm2")
    token = bearer(app.state.server.keys.create("*", "admin"))
    received: list[str] = []
    first_token = threading.Event()

    def ask(url: str) -> None:
        with httpx.stream("POST", f"{url}/collections/notes/ask", headers=token, timeout=120,
                          json={"question": "What does the sweeper visit?"}) as response:
            for line in response.iter_lines():
                received.append(line)
                if line == "event: token":
                    first_token.set()

    with serving(app) as url:
        with httpx.Client(base_url=url) as client:
            client.post("/collections", json={"name": "notes"}, headers=token)
            add_documents(client, "notes", [{"id": "a", "text": "The sweeper visits shelf 7."}],
                          token)
        asker = threading.Thread(target=ask, args=(url,))
        asker.start()
        assert first_token.wait(60)
    # The server has shut down (serving() waited for it); the answer still arrived whole.
    asker.join(timeout=60)
    assert "event: answer" in received


OLDER_JOBS_FILE = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    files_total INTEGER NOT NULL, files_done INTEGER NOT NULL DEFAULT 0,
    views_total INTEGER NOT NULL DEFAULT 0, views_done INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '', created REAL NOT NULL, finished REAL,
    targets TEXT NOT NULL
);
CREATE TABLE documents (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    job TEXT NOT NULL, state TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
    bytes INTEGER NOT NULL, created REAL NOT NULL
);
"""


def test_a_job_left_running_in_an_older_servers_file_runs_on_the_next_start(
        tmp_path: Path) -> None:
    data = tmp_path / "server"
    first = make_app(data)
    token = bearer(first.state.server.keys.create("*", "admin"))
    with TestClient(first) as client:
        client.post("/collections", json={"name": "notes"}, headers=token)
    folder = data / "collections" / "notes" / "files" / "d1"
    folder.mkdir(parents=True)
    (folder / "shelf.md").write_text("The sweeper visits shelf 7.")
    (data / "jobs.db").unlink()
    with sqlite3.connect(data / "jobs.db") as db:  # as a server before leases wrote it
        db.executescript(OLDER_JOBS_FILE)
        db.execute("INSERT INTO documents VALUES ('d1', 'notes', 'shelf.md', ?, 'j1', "
                   "'queued', '', 27, 1.0)", (str(folder / "shelf.md"),))
        db.execute("INSERT INTO jobs VALUES ('j1', 'notes', 'index', 'running', 1, 0, 0, 0, "
                   "'', 1.0, NULL, '[\"d1\"]')")
    with TestClient(make_app(data)) as client:
        finished = wait_for_job(client, "notes", "j1", token)
        assert (finished["state"], finished["attempts"]) == ("done", 1)
        hits = client.get("/collections/notes/search", params={"q": "shelf 7", "k": 1},
                          headers=token).json()["hits"]
        assert hits[0]["path"] == "d1/shelf.md"
