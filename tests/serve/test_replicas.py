"""Replicas: servers over one PostgreSQL store share keys, collections, documents and jobs.
Each has a data folder of its own, holding only what it derives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lore.serve.control import PostgresControl
from lore.serve.keys import KeyStore, Scope
from lore.testing import postgres
from lore.testing.server import add_documents, bearer, make_app, wait_for_job

NOTES = [{"id": f"note-{i}", "title": f"Note {i}",
          "text": f"Note number {i} says the sweeper visits shelf {i * 7}."} for i in range(6)]


@contextmanager
def replicas(store: str, *data_dirs: Path, **environ: str) -> Iterator[list[TestClient]]:
    """In-process servers over one store, each with its own folder and ingestion worker."""
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(make_app(d, LORE_STORE=store, **environ)))
               for d in data_dirs]


def new_key(store: str, collection: str, scope: Scope) -> str:
    """A key made as `lore keys create --store` makes it."""
    keys = KeyStore(PostgresControl(store))
    try:
        return keys.create(collection, scope)
    finally:
        keys.close()


def search(client: TestClient, query: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/collections/notes/search", params={"q": query, "k": 10},
                          headers=headers)
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def test_two_replicas_serve_one_set_of_keys_collections_and_documents(
        postgres_url: str, tmp_path: Path) -> None:
    store = postgres.location(postgres_url)
    with replicas(store, tmp_path / "a", tmp_path / "b") as (a, b):
        admin = bearer(new_key(store, "*", "admin"))
        assert b.get("/collections", headers=admin).status_code == 200  # B knows A's key
        assert a.post("/collections", json={"name": "notes"}, headers=admin).status_code == 201
        assert [c["name"] for c in b.get("/collections", headers=admin).json()["collections"]] \
            == ["notes"]
        job = a.post("/collections/notes/documents", json={"documents": NOTES},
                     headers=admin).json()["job"]
        finished = wait_for_job(b, "notes", job["id"], admin)  # followed through the other
        assert (finished["state"], finished["attempts"]) == ("done", 1)
        for client in (a, b):
            listed = client.get("/collections/notes/documents", headers=admin).json()
            assert listed["total"] == len(NOTES)
            assert {d["state"] for d in listed["documents"]} == {"indexed"}
            assert client.get("/collections/notes", headers=admin).json()["documents"] \
                == len(NOTES)
            hit = search(client, "shelf 21", admin)[0]
            assert (hit["doc_key"], hit["path"].split("/")[-1]) == ("note-3", "note-3.json")
            assert not hit["path"].startswith("/")  # never a server path

        # A document replaced through B stays one document, new text, seen through A.
        add_documents(b, "notes", [{"id": "note-3", "text": "Note 3 now says the sweeper "
                                    "visits the attic."}], admin)
        assert a.get("/collections/notes", headers=admin).json()["documents"] == len(NOTES)
        assert [h["doc_key"] for h in search(a, "attic", admin)][:1] == ["note-3"]
        assert "shelf 21" not in " ".join(h["chunk"]["text"] for h in search(a, "shelf 21", admin))

        # Removed through A, gone through B.
        doc_id = next(d["id"] for d in b.get("/collections/notes/documents", headers=admin)
                      .json()["documents"] if d["name"] == "note-5.json")
        removal = a.delete(f"/collections/notes/documents/{doc_id}", headers=admin).json()["job"]
        assert wait_for_job(b, "notes", removal["id"], admin)["state"] == "done"
        assert "note-5" not in {h["doc_key"] for h in search(b, "shelf 35", admin)}

        # A collection deleted through B is gone for A, with its keys; a new one of the same
        # name starts empty.
        reader = bearer(new_key(store, "notes", "read"))
        assert a.get("/collections/notes", headers=reader).status_code == 200
        assert b.delete("/collections/notes", headers=admin).status_code == 200
        assert a.get("/collections/notes", headers=admin).status_code == 404
        assert a.get("/collections/notes", headers=reader).status_code == 401
        assert a.post("/collections", json={"name": "notes"}, headers=admin).status_code == 201
        assert b.get("/collections/notes", headers=admin).json()["documents"] == 0


def test_each_job_runs_once_when_two_replicas_take_from_one_queue(
        postgres_url: str, tmp_path: Path) -> None:
    store = postgres.location(postgres_url)
    with replicas(store, tmp_path / "a", tmp_path / "b") as (a, b):
        admin = bearer(new_key(store, "*", "admin"))
        a.post("/collections", json={"name": "notes"}, headers=admin)
        jobs = [(a if i % 2 else b).post("/collections/notes/documents",
                                          json={"documents": [note]}, headers=admin
                                          ).json()["job"]["id"]
                for i, note in enumerate(NOTES)]
        records = [wait_for_job(a, "notes", job, admin) for job in jobs]
        assert [(r["state"], r["attempts"]) for r in records] == [("done", 1)] * len(NOTES)
        assert b.get("/collections/notes", headers=admin).json()["documents"] == len(NOTES)


def lore_serve(store: str, data_dir: Path, port: int, **environ: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lore.cli", "serve", "--store", store, "--data", str(data_dir),
         "--port", str(port)], env={**os.environ, **environ}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
def test_a_job_whose_replica_was_killed_is_finished_by_another_with_every_document_once(
        postgres_url: str, tmp_path: Path) -> None:
    store = postgres.location(postgres_url)
    count = 150
    notes = [{"id": f"doc-{i}", "title": f"Note {i}",
              "text": f"Note number {i} says the sweeper visits shelf {i * 7}."}
             for i in range(count)]
    port = free_port()
    killed = lore_serve(store, tmp_path / "a", port, LORE_JOB_LEASE="2")
    try:
        admin = bearer(new_key(store, "*", "admin"))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/collections", headers=admin)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the replica did not start"
                    time.sleep(0.2)
            client.post("/collections", json={"name": "notes"}, headers=admin)
            job = client.post("/collections/notes/documents", json={"documents": notes},
                              headers=admin).json()["job"]["id"]
            while (record := client.get(f"/collections/notes/jobs/{job}", headers=admin
                                        ).json())["files_done"] < 10:
                assert record["state"] in ("queued", "running") and time.monotonic() < deadline
                time.sleep(0.05)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    finally:
        if killed.poll() is None:
            killed.kill()
    with replicas(store, tmp_path / "b", LORE_JOB_LEASE="2") as (survivor,):
        finished = wait_for_job(survivor, "notes", job, admin)
        assert (finished["state"], finished["attempts"]) == ("done", 2)
        assert survivor.get("/collections/notes", headers=admin).json()["documents"] == count
        hits = search(survivor, "shelf 693", admin)
        assert hits[0]["doc_key"] == "doc-99"
        assert len({(h["doc_key"], h["chunk"]["text"]) for h in hits}) == len(hits)  # no copies
