"""A chat server gives text and no token scores: every strategy still runs on it. A real
HTTP server on a loopback port answers in OpenAI's streaming format, one scripted reply per
request, in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import lore
from lore.api import KnowledgeBase
from lore.config import GenerateConfig
from lore.errors import ConfigError

FILES = {
    "sweeper.md": "# Sweeper\n\nThe cache sweeper was written by Ada Park in 2019.\n",
    "park.md": "# Ada Park\n\nAda Park is an engineer born in Oslo.\n",
}


class ChatServer(ThreadingHTTPServer):
    """Streams the n-th reply to the n-th chat request and records each request's body."""

    daemon_threads = True

    def __init__(self, replies: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = replies
        self.bodies: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    @property
    def spec(self) -> str:
        return f"openai:http://127.0.0.1:{self.server_address[1]}/v1/tiny"


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.server.bodies.append(body)
        text = self.server.replies[min(len(self.server.bodies), len(self.server.replies)) - 1]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece, finish in ((text, None), ("", "stop")):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece},
                                  "finish_reason": finish}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("server-strategies")
    (root / "notes").mkdir()
    for name, text in FILES.items():
        (root / "notes" / name).write_text(text, encoding="utf-8")
    with lore.open(root / "kb", model="hash") as base:
        base.index([root / "notes"])
        yield base


@pytest.fixture
def server_for() -> Iterator[Any]:
    servers: list[ChatServer] = []

    def start(*replies: str) -> ChatServer:
        servers.append(ChatServer(list(replies)))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("strategy", "replies", "calls"), [
    ("iterative", ["The sweeper was written by Ada Park.", "So the answer is: Oslo.",
                   "Oslo [2]."], 3),
    ("decompose", ["Who wrote the sweeper?\nWhere was that person born?", "Ada Park",
                   "Oslo", "Oslo [2]."], 4),
    ("multi-query", ["sweeper author\nAda Park birthplace", "Oslo [1]."], 2),
    ("hyde", ["Ada Park, who wrote the sweeper, was born in Oslo.", "Oslo [1]."], 2),
    ("reflect", ["Oslo [1]."], 1),
])
def test_each_strategy_runs_on_a_chat_server(kb: KnowledgeBase, server_for: Any,
                                             strategy: str, replies: list[str],
                                             calls: int) -> None:
    server = server_for(*replies)
    settings = replace(GenerateConfig(), model=server.spec, api_key_env="LORE_TEST_NO_KEY",
                       k=2)
    answer = kb.ask("Where was the author of the sweeper born?", settings=settings,
                    strategy=strategy)
    assert answer.found and answer.text.startswith("Oslo") and answer.strategy == strategy
    assert len(server.bodies) == calls == answer.model_calls
    assert all(body["stream"] for body in server.bodies)
    assert all("logprobs" not in body for body in server.bodies)


def test_a_mode_that_needs_token_scores_is_refused_before_any_call(
        kb: KnowledgeBase, server_for: Any) -> None:
    server = server_for("never sent")
    settings = replace(GenerateConfig(), model=server.spec, api_key_env="LORE_TEST_NO_KEY",
                       mode="rag-token")
    with pytest.raises(ConfigError, match="token"):
        kb.ask("Where was the author of the sweeper born?", settings=settings,
               strategy="iterative")
    assert server.bodies == []

