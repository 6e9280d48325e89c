"""Helpers for tests that drive a lore server through its HTTP API.

>>> app = make_app(tmp_path / "server", LORE_GENERATOR="smollm2")
>>> with TestClient(app) as client:
...     admin = bearer(app.state.server.keys.create("*", "admin"))
...     client.post("/collections", json={"name": "docs"}, headers=admin)
...     add_documents(client, "docs", [{"id": "a", "text": "..."}], admin)
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from lore.config import LoreConfig

Client = httpx.Client | TestClient
"""A client bound to the server: a live server's ``httpx.Client``, or an in-process
``TestClient``."""


def make_app(data_dir: Path, **environ: str) -> Any:
    """The FastAPI app over ``data_dir``, configured by ``LORE_*`` settings given here."""
    from lore.serve.app import create_app

    return create_app(LoreConfig.from_env({"LORE_SERVE_DIR": str(data_dir), **environ}))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_job(client: Client, collection: str, job: str, headers: dict[str, str],
                 timeout: float = 120.0) -> dict[str, Any]:
    """Poll a job until it is no longer queued or running; returns its record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record: dict[str, Any] = client.get(f"/collections/{collection}/jobs/{job}",
                                            headers=headers).json()
        if record["state"] not in ("queued", "running"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"job {job} still running after {timeout} s")


def add_documents(client: Client, collection: str, documents: list[dict[str, Any]],
                  headers: dict[str, str]) -> dict[str, Any]:
    """Upload JSON documents and wait until they are indexed; returns the finished job."""
    response = client.post(f"/collections/{collection}/documents",
                           json={"documents": documents}, headers=headers)
    assert response.status_code == 202, response.text
    return wait_for_job(client, collection, response.json()["job"]["id"], headers)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in a thread; yields its base URL.

    Leaving the block shuts the server down the way a SIGTERM would (in-flight requests
    finish, then the app's lifespan ends).
    """
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """A server-sent-events body as (event, decoded JSON data) pairs, in order."""
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events
