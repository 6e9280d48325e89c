"""Graceful shutdown: ingestion stops at a safe point and resumes on the next start without
loss; answers in flight finish."""

from __future__ import annotations

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
