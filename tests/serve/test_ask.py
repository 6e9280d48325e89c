"""Asking over HTTP: server-sent events, one JSON object, and the busy answer."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lore.testing.models import needs_smollm2
from lore.testing.server import add_documents, sse_events

pytestmark = [pytest.mark.slow, needs_smollm2]
QUESTION = "How often does the sweeper remove expired cache entries?"


@pytest.fixture
def docs(client: TestClient, admin: dict[str, str], documents: list[dict[str, str]]) -> str:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    add_documents(client, "docs", documents, admin)
    return "docs"


def test_the_answer_streams_as_events(client: TestClient, admin: dict[str, str],
                                      docs: str) -> None:
    response = client.post(f"/collections/{docs}/ask", json={"question": QUESTION, "k": 2},
                           headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"step", "token"}
    assert kinds[0] == "step" and events[0][1]["kind"] == "retrieve"  # the single retrieval
    answer = events[-1][1]
    assert answer["found"] is True
    sources = answer["sources"]
    assert isinstance(sources, list) and sources[0]["title"] == "Cache expiry"
    streamed = "".join(str(data["text"]) for kind, data in events if kind == "token")
    assert streamed.strip()
    assert not str(sources[0]["path"]).startswith("/")


def test_one_json_object_when_not_streaming(client: TestClient, admin: dict[str, str],
                                            docs: str) -> None:
    response = client.post(f"/collections/{docs}/ask",
                           json={"question": QUESTION, "stream": False}, headers=admin)
    body = response.json()
    assert response.status_code == 200
    assert body["answer"] and body["timings"]["total"] > 0


def test_an_empty_collection_says_so(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/collections", json={"name": "empty"}, headers=admin)
    response = client.post("/collections/empty/ask", json={"question": QUESTION,
                                                           "stream": False}, headers=admin)
    assert response.json()["found"] is False


def test_a_full_line_is_told_when_to_come_back(client: TestClient, app: FastAPI,
                                               admin: dict[str, str], docs: str) -> None:
    gate = app.state.server.gate
    held = [gate.enter() for _ in range(gate.waiting + 1)]  # answering + every waiting place
    try:
        response = client.post(f"/collections/{docs}/ask", json={"question": QUESTION},
                               headers=admin)
    finally:
        for ticket in held:
            ticket.cancel()
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["code"] == "busy"
    assert client.post(f"/collections/{docs}/ask", json={"question": QUESTION,
                       "stream": False}, headers=admin).status_code == 200
