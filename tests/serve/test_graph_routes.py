"""The concept graph over HTTP: the neighbourhood of an answer's sources, and the chunks of a
concept (what the web page's graph view draws and opens)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lore.testing.fakes import ScriptedGenerator
from lore.testing.server import add_documents, make_app

NOTES = [
    "The Aletsch Glacier and the Rhone Glacier feed the Swiss Alps valleys.",
    "Climbers in the Swiss Alps cross the Aletsch Glacier each summer.",
    "The Rhone Glacier retreats while the Aletsch Glacier thins.",
    "Ada Park wrote the cache sweeper at the University of Oslo.",
    "The cache sweeper frees memory that Ada Park's tests leak.",
    "At the University of Oslo, Ada Park teaches the cache sweeper.",
]


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app: FastAPI = make_app(tmp_path / "server", LORE_GENERATOR="scripted", LORE_MODEL="hash")
    return app


@pytest.fixture
def notes(client: TestClient, admin: dict[str, str]) -> str:
    client.post("/collections", json={"name": "notes"}, headers=admin)
    add_documents(client, "notes", [{"id": f"n{n}", "title": f"Note {n}", "text": text}
                                    for n, text in enumerate(NOTES)], admin)
    return "notes"


def test_the_graph_around_an_answer_s_sources(client: TestClient, admin: dict[str, str],
                                              notes: str, scripted: ScriptedGenerator) -> None:
    scripted.script("It feeds the valleys [1].")
    answer = client.post(f"/collections/{notes}/ask", headers=admin, json={
        "question": "What does the Aletsch Glacier feed?", "k": 2, "stream": False}).json()
    chunks = [source["chunk"] for source in answer["sources"]]
    assert chunks and all(chunks)
    found = client.post(f"/collections/{notes}/graph", headers=admin,
                        json={"chunks": chunks, "limit": 5}).json()
    names = [node["name"] for node in found["nodes"]]
    assert "aletsch glacier" in names and len(names) <= 5
    assert any(node["named"] for node in found["nodes"])
    assert all(0 <= e["source"] < len(names) and 0 <= e["target"] < len(names)
               for e in found["edges"])
    shown = {node["community"] for node in found["nodes"]}
    assert {c["id"] for c in found["communities"]} == shown


def test_a_concept_opens_its_chunks(client: TestClient, admin: dict[str, str],
                                    notes: str) -> None:
    found = client.get(f"/collections/{notes}/concept", headers=admin,
                       params={"concept": "Ada Park"}).json()
    assert found["concept"] == "Ada Park" and len(found["chunks"]) == 3
    assert all("Ada Park" in chunk["text"] for chunk in found["chunks"])
    assert client.get(f"/collections/{notes}/concept", headers=admin,
                      params={"concept": "nobody"}).json()["chunks"] == []


def test_bad_graph_requests_are_refused(client: TestClient, admin: dict[str, str],
                                        notes: str) -> None:
    assert client.post(f"/collections/{notes}/graph", headers=admin,
                       json={"chunks": [], "limit": 0}).status_code == 422
    assert client.get(f"/collections/{notes}/concept", headers=admin).status_code == 422
    empty = client.post(f"/collections/{notes}/graph", headers=admin,
                        json={"chunks": ["not-a-chunk"]}).json()
    assert empty == {"nodes": [], "edges": [], "communities": []}
    assert client.post("/collections/missing/graph", headers=admin,
                       json={"chunks": []}).status_code == 404
