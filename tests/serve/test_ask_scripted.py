"""Asking over HTTP with the scripted generator (``lore.testing.fakes.SCRIPTED``) and hash
vectors: the answer route without a model, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lore.testing.fakes import ScriptedGenerator
from lore.testing.server import add_documents, make_app, sse_events

QUESTION = "How often does the sweeper remove expired cache entries?"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The conftest's server, answering with the scripted generator over hash vectors."""
    app: FastAPI = make_app(tmp_path / "server", LORE_GENERATOR="scripted", LORE_MODEL="hash")
    return app


@pytest.fixture
def docs(client: TestClient, admin: dict[str, str], documents: list[dict[str, str]]) -> str:
    client.post("/collections", json={"name": "docs"}, headers=admin)
    add_documents(client, "docs", documents, admin)
    return "docs"


def test_the_scripted_answer_streams_as_events_then_the_checked_answer(
        client: TestClient, admin: dict[str, str], docs: str,
        scripted: ScriptedGenerator) -> None:
    written = "The sweeper runs every minute [1]. It never sleeps [9]."
    scripted.enqueue(written)
    response = client.post(f"/collections/{docs}/ask", json={"question": QUESTION, "k": 2},
                           headers=admin)
    assert response.status_code == 200
    events = sse_events(response.text)
    assert [kind for kind, _ in events][-1] == "answer"
    assert "".join(data["text"] for kind, data in events if kind == "token") == written
    answer = events[-1][1]
    assert answer["answer"] == "The sweeper runs every minute [1]. It never sleeps."
    assert answer["invalid_citations"] == [9] and answer["sources"][0]["title"] == "Cache expiry"
    assert QUESTION in scripted.asked[0][-1].content


def test_one_json_object_when_not_streaming(client: TestClient, admin: dict[str, str],
                                            docs: str, scripted: ScriptedGenerator) -> None:
    scripted.script("Every minute [1].")
    response = client.post(f"/collections/{docs}/ask", headers=admin, json={
        "question": QUESTION, "stream": False, "mode": "rag-token", "k": 2})
    body = response.json()
    assert response.status_code == 200, body
    assert body["answer"] == "Every minute [1]." and body["mode"] == "rag-token"
    assert [c["number"] for c in body["citations"]] == [1]


def test_a_strategy_streams_its_steps_as_events_before_the_answer(
        client: TestClient, admin: dict[str, str], docs: str,
        scripted: ScriptedGenerator) -> None:
    scripted.enqueue("What removes old cache entries?", "Every minute [1].")
    response = client.post(f"/collections/{docs}/ask", headers=admin, json={
        "question": QUESTION, "k": 2, "strategy": "step-back"})
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["step", "step", "step"] and kinds[-1] == "answer"
    assert events[0][1]["kind"] == "step-back"
    assert events[2][1]["text"] == "What removes old cache entries?"
    assert all("/" not in hit["path"][:1] for _, data in events[:3] for hit in data["hits"])
    assert events[-1][1]["strategy"] == "step-back"


def test_the_global_strategy_takes_its_relevance_budget(
        client: TestClient, admin: dict[str, str], docs: str,
        scripted: ScriptedGenerator) -> None:
    scripted.script("Cache entries [1].")
    notes = ["The Aletsch Glacier feeds the Swiss Alps.", "The Swiss Alps hold the Aletsch "
             "Glacier.", "Climbers in the Swiss Alps cross the Aletsch Glacier."]
    add_documents(client, docs, [{"id": f"alps-{n}", "title": f"Alps {n}", "text": text}
                                 for n, text in enumerate(notes)], admin)
    response = client.post(f"/collections/{docs}/ask", headers=admin, json={
        "question": "What are the main themes?", "strategy": "global", "budget": 1,
        "stream": False})
    body = response.json()
    assert response.status_code == 200, body
    assert body["strategy"] == "global"
    relevance = next(step for step in body["steps"] if step["kind"] == "relevance")
    assert relevance["text"].startswith("1 relevance tests")
    refused = client.post(f"/collections/{docs}/ask", headers=admin, json={
        "question": "What are the main themes?", "strategy": "global", "budget": -1})
    assert refused.status_code == 422
