"""The MCP server through the SDK's own client: ``lore mcp`` over stdio, and ``/mcp`` of a real
``lore serve`` (uvicorn on a free port) over streamable HTTP with API keys."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

import lore
from lore.config import LoreConfig
from lore.serve.app import create_app
from lore.serve.state import Server
from lore.testing.models import has_smollm2, needs_smollm2

pytestmark = pytest.mark.slow  # real models, a subprocess or a real server

NOTES = {
    "cache.md": "# Cache expiry\n\nExpired cache entries are removed by a sweeper that runs "
                "every minute. The sweeper deletes every entry whose time to live has passed.\n",
    "retry.md": "# Retry policy\n\nOn a 503 response the client retries with exponential "
                "backoff, at most five times, and gives up after thirty seconds.\n",
}
DOCUMENTS = [{"id": name.removesuffix(".md"), "title": text.splitlines()[0].lstrip("# "),
              "text": text} for name, text in NOTES.items()]
SWEEPER = "how often does the cache sweeper run"


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


# -- stdio --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mcp-stdio")
    docs = root / "docs"
    docs.mkdir()
    for name, text in NOTES.items():
        (docs / name).write_text(text)
    with lore.open(root / "kb", config=LoreConfig.from_env({})) as kb:
        kb.index([docs])
    return root / "kb"


def stdio_params(kb_dir: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORE_")}
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "lore.cli", "mcp", "--kb", str(kb_dir)],
                                 env={**env, "LORE_GENERATOR": "smollm2"}, cwd=kb_dir.parent)


@dataclass
class StdioSession:
    schemas: dict[str, dict[str, Any]]
    found: CallToolResult
    answered: CallToolResult | None
    """None without SmolLM2."""


@pytest.fixture(scope="module")
def stdio_session(kb_dir: Path) -> StdioSession:
    """One ``lore mcp`` process: list the tools, search, and ask when SmolLM2 is installed."""
    async def scenario() -> StdioSession:
        async with Client(stdio_params(kb_dir)) as client:
            tools = (await client.list_tools()).tools
            found = await client.call_tool("search", {"query": SWEEPER, "k": 2})
            answered = (await client.call_tool("ask", {"question": SWEEPER})
                        if has_smollm2() else None)
            return StdioSession({t.name: t.input_schema for t in tools}, found, answered)
    return anyio.run(scenario)


def test_stdio_lists_tools_and_searches(stdio_session: StdioSession) -> None:
    schemas, found = stdio_session.schemas, stdio_session.found
    assert set(schemas) == {"search", "ask"}
    assert schemas["search"]["required"] == ["query"]
    assert set(schemas["search"]["properties"]) == {"query", "k", "collection"}
    assert schemas["ask"]["required"] == ["question"]
    assert not found.is_error, text_of(found)
    assert found.structured_content is not None
    hits = found.structured_content["hits"]
    assert 1 <= len(hits) <= 2
    assert hits[0]["rank"] == 1 and hits[0]["path"].endswith("cache.md")
    assert "sweeper" in hits[0]["text"]
    assert set(hits[0]) == {"rank", "path", "title", "doc_key", "score", "text"}


@needs_smollm2
def test_stdio_asks(stdio_session: StdioSession) -> None:
    answered = stdio_session.answered
    assert answered is not None and not answered.is_error, answered and text_of(answered)
    assert answered.structured_content is not None
    record = answered.structured_content
    assert record["answer"].strip()
    assert any(s["path"].endswith("cache.md") for s in record["sources"])


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    state: Server
    data_dir: Path
    own: str
    """A write key for collection ``docs``, which holds DOCUMENTS."""
    foreign: str
    """A read key for collection ``other``."""


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free port of 127.0.0.1; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def index_documents(url: str, token: str) -> None:
    """Create collection ``docs`` and index DOCUMENTS through the REST API."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as rest:
        assert rest.post("/collections", json={"name": "docs"}).status_code == 201
        response = rest.post("/collections/docs/documents", json={"documents": DOCUMENTS})
        assert response.status_code == 202, response.text
        job = response.json()["job"]["id"]
        deadline = time.monotonic() + 120
        while (state := rest.get(f"/collections/docs/jobs/{job}").json()["state"]) != "done":
            assert state in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("mcp-http") / "server"
    app = create_app(LoreConfig.from_env({"LORE_SERVE_DIR": str(data_dir),
                                          "LORE_GENERATOR": "smollm2"}))
    state: Server = app.state.server
    own = state.keys.create("docs", "write")
    foreign = state.keys.create("other", "read")
    state.collections.create("other")
    with uvicorn_thread(app) as url:
        index_documents(url, own)
        yield Served(url, state, data_dir, own, foreign)


@asynccontextmanager
async def connected(url: str, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx2.Timeout(30, read=300)
    async with (httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
                Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client):
        yield client


def call(served: Served, token: str, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async def scenario() -> CallToolResult:
        async with connected(served.url, token) as client:
            return await client.call_tool(tool, arguments)
    return anyio.run(scenario)


def test_http_search_reads_the_keys_collection(served: Served) -> None:
    for arguments in ({"query": SWEEPER}, {"query": SWEEPER, "collection": "docs"}):
        found = call(served, served.own, "search", arguments)
        assert not found.is_error, text_of(found)
        assert found.structured_content is not None
        top = found.structured_content["hits"][0]
        assert top["doc_key"] == "cache" and "sweeper" in top["text"]
        assert str(served.data_dir) not in text_of(found)  # no server paths
        assert not top["path"].startswith("/")


def test_http_foreign_collection_looks_like_a_missing_one(served: Served) -> None:
    foreign = call(served, served.foreign, "search", {"query": SWEEPER, "collection": "docs"})
    missing = call(served, served.foreign, "search", {"query": SWEEPER, "collection": "ghost"})
    assert foreign.is_error and missing.is_error
    assert "not found" in text_of(missing)
    assert text_of(foreign) == text_of(missing).replace("ghost", "docs")
    asked = call(served, served.foreign, "ask", {"question": SWEEPER, "collection": "docs"})
    assert asked.is_error and text_of(asked) == text_of(foreign).replace("search", "ask")
    own = call(served, served.foreign, "search", {"query": SWEEPER})  # its own, empty
    assert not own.is_error and own.structured_content == {"query": SWEEPER, "hits": []}


def test_http_without_a_valid_key_is_401(served: Served) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "test", "version": "0"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for auth in ({}, {"Authorization": "Bearer lore_0000000000000000_notakey"},
                 {"Authorization": "Token abc"}):
        response = httpx.post(f"{served.url}/mcp", json=initialize, headers={**accept, **auth})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_http_ask_refuses_when_the_line_is_full(served: Served) -> None:
    gate = served.state.gate
    held = [gate.enter() for _ in range(gate.waiting + 1)]
    try:
        refused = call(served, served.own, "ask", {"question": SWEEPER})
    finally:
        for ticket in held:
            ticket.cancel()
    assert refused.is_error
    assert "busy" in text_of(refused) and "retry in" in text_of(refused)
    assert gate.admitted == 0


@needs_smollm2
def test_http_asks(served: Served) -> None:
    answered = call(served, served.own, "ask", {"question": SWEEPER})
    assert not answered.is_error, text_of(answered)
    assert answered.structured_content is not None
    record = answered.structured_content
    assert record["answer"].strip()
    assert any(s["doc_key"] == "cache" for s in record["sources"])
    assert served.state.gate.admitted == 0
