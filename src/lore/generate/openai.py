"""Any OpenAI-compatible chat server as a ``Generator``: OpenAI, Ollama, vLLM, llama.cpp.

``stream`` POSTs ``/chat/completions`` with ``stream: true`` and reads the server-sent events
(``data: {...}`` lines ending with ``data: [DONE]``) as they arrive. A request that fails
before the first token (server not up yet, HTTP 429 or 5xx) is retried with exponential
backoff; once a token has been yielded nothing is retried, since the caller already showed it.
Every failure becomes a ``GenerationError`` that names the URL and says what to do.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from time import sleep
from typing import Any
from urllib.parse import urlsplit

import httpx

from lore.errors import ConfigError, GenerationError
from lore.generate.decode import text_pieces
from lore.generate.protocol import Message, Sampling

PREFIX = "openai:"
_API_ROOT = "/v1"
_EXCERPT = 200
_RUN = re.compile(r" ?(?:[A-Z]?[a-z]+|[A-Z]+(?![a-z]))|\s+|.", re.DOTALL)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``openai:<base_url>/<model>`` into ``(base_url, model)``.

    The base URL ends at the first ``/v1`` of the path; everything after it is the model, so
    names such as ``qwen2.5:7b`` and ``Qwen/Qwen2.5-7B-Instruct`` need no quoting.

    Raises:
        ConfigError: the spec is not of that form.
    """
    example = "e.g. openai:http://127.0.0.1:8080/v1/qwen2.5:7b"
    if not spec.startswith(PREFIX):
        raise ConfigError(f"generator spec {spec!r} must start with {PREFIX!r} ({example})")
    url = urlsplit(spec[len(PREFIX):])
    root, slash, model = url.path.partition(_API_ROOT + "/")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"generator spec {spec!r} needs an http:// or https:// URL with a "
                          f"host ({example})")
    if not slash or not model.strip("/") or url.query or url.fragment:
        raise ConfigError(f"generator spec {spec!r} must be the server's {_API_ROOT} URL "
                          f"followed by /<model> ({example})")
    return f"{url.scheme}://{url.netloc}{root}{_API_ROOT}", model.strip("/")


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` will take in an unknown model's tokenizer, erring high.

    Remote servers expose no tokenizer, so count what BPE vocabularies split finely: a word
    (with its leading space, split at case changes) costs a token per 4 letters, or per 3 past
    8 letters (rare words); a run of whitespace a token per 4; each digit and ASCII
    punctuation mark one; any other character its UTF-8 length less one (CJK: 2), at least 1.
    Erring high keeps a packed prompt inside the context; it reads low only on text no
    tokenizer has seen (random base64, long compound words). docs/serving.md gives the ratios
    to real tokenizers; ``tests/generate/test_openai.py`` checks that it errs high against
    SmolLM2's.
    """
    count = 0
    for match in _RUN.finditer(text):
        run = match.group()
        if run[-1].isascii() and run[-1].isalpha():
            letters = len(run.lstrip(" "))
            count += math.ceil(letters / 4) if letters <= 8 else math.ceil(letters / 3)
        elif run.isspace():
            count += math.ceil(len(run) / 4)
        elif run.isascii():
            count += 1
        else:
            count += max(1, len(run.encode()) - 1)
    return count


def parse_events(lines: Iterable[str], url: str) -> Iterator[str]:
    """The ``choices[0].delta.content`` pieces of a chat completion event stream.

    Raises:
        GenerationError: the body is not an event stream, an event is not a chat completion
            chunk, the server reports an error in the stream, or the stream ends before
            ``[DONE]`` or a finish reason.
    """
    data: list[str] = []
    events, finished, other = 0, False, ""
    for line in chain(lines, [""]):
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
            continue
        if line or not data:
            other = other or line
            continue
        event, data, events = "\n".join(data), [], events + 1
        if event.strip() == "[DONE]":
            return
        piece, finished = _read_chunk(event, url)
        if piece:
            yield piece
    if not events and other:
        raise _garbage(url, other)
    if not events:
        raise GenerationError(f"the model server at {url} answered with an empty stream: it "
                              "failed on this request (llama-cpp-python's server does this for "
                              "a prompt longer than its context); check its log")
    if not finished:
        raise GenerationError(f"the stream from {url} ended before the answer was complete "
                              "(no [DONE]); the server may have crashed or dropped the "
                              "connection: check its log and retry")


def _read_chunk(event: str, url: str) -> tuple[str, bool]:
    """One chunk's content and whether it carries a finish reason."""
    try:
        chunk = json.loads(event)
    except json.JSONDecodeError:
        raise _garbage(url, event) from None
    if isinstance(chunk, dict) and "error" in chunk:
        raise GenerationError(f"the model server at {url} reported an error mid-answer: "
                              f"{_cut(json.dumps(chunk['error']))}")
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list):
        raise _garbage(url, event)
    if not choices:
        return "", False  # a usage-only chunk
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict):
        raise _garbage(url, event)
    content = delta.get("content")
    return (content if isinstance(content, str) else ""), bool(choice.get("finish_reason"))


class OpenAIGenerator:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    ``count_tokens`` can only estimate (``estimate_tokens``): it errs high, so prompts packed
    by it fit. The API key is read from the environment variable ``api_key_env`` at each
    request and sent as a Bearer token; it is never stored on the object.

    Example::

        generator = OpenAIGenerator("http://127.0.0.1:11434/v1", "qwen2.5:7b")
        text = "".join(generator.stream([Message("user", "Say hello")]))

    Args:
        base_url: The server's API root, ending in ``/v1``.
        model: The model name the server knows.
        api_key_env: Name of the environment variable holding the key; ``None`` or unset:
            no ``Authorization`` header.
        context_tokens: The model's context window (servers do not report it).
        timeout: Seconds the server may take to answer or to send the next piece.
        connect_timeout: Seconds to open the connection.
        retries: Further attempts after a connection error, HTTP 429 or 5xx, made only
            before the first token.
        backoff: Seconds before the first retry, doubling for each next one.
        transport: An ``httpx`` transport to talk through instead of the network (tests).
        environ: Where to read the key (default ``os.environ``).
    """

    def __init__(self, base_url: str, model: str, *,
                 api_key_env: str | None = "OPENAI_API_KEY", context_tokens: int = 8192,
                 timeout: float = 60.0, connect_timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        if context_tokens <= 0 or retries < 0 or backoff < 0:
            raise ConfigError(f"need context_tokens > 0, retries >= 0 and backoff >= 0; got "
                              f"{context_tokens}, {retries} and {backoff}")
        if timeout <= 0 or connect_timeout <= 0:
            raise ConfigError(f"timeouts must be positive, got timeout={timeout} and "
                              f"connect_timeout={connect_timeout}")
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"base_url {base_url!r} must be an http:// or https:// URL with a "
                              "host, e.g. http://127.0.0.1:8080/v1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{PREFIX}{self.base_url}/{model}"
        self.context_tokens = context_tokens
        self.api_key_env = api_key_env
        self.url = f"{self.base_url}/chat/completions"
        self.retries, self.backoff = retries, backoff
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._transport = transport
        self._environ = environ  # not os.environ itself: a pickled generator would carry it

    def __repr__(self) -> str:
        return (f"OpenAIGenerator({self.base_url!r}, {self.model!r}, "
                f"api_key_env={self.api_key_env!r})")

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(self, messages: Sequence[Message], sampling: Sampling = Sampling()
               ) -> Iterator[str]:
        body: dict[str, Any] = {
            "model": self.model, "stream": True,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": sampling.max_tokens, "temperature": sampling.temperature}
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
            request = client.build_request("POST", self.url, json=body, headers=self._headers())
            response = self._open(client, request)
            try:
                # The server stops at ``stop`` too; cutting here as well keeps the contract
                # with servers that ignore or only partly honour it.
                yield from text_pieces(parse_events(self._lines(response), self.url),
                                       str.encode, sampling.stop)
            finally:
                response.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _key(self) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        return environ.get(self.api_key_env) if self.api_key_env else None

    def _open(self, client: httpx.Client, request: httpx.Request) -> httpx.Response:
        """Send ``request`` until a 2xx answer starts, retrying what may pass."""
        failure = GenerationError(f"no attempt was made to reach {self.url}")
        for attempt in range(self.retries + 1):
            if attempt:
                sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                failure = GenerationError(
                    f"cannot reach the model server at {self.url} ({error}): "
                    "is it running and listening there? Start it, or fix the URL")
                continue
            except httpx.HTTPError as error:
                raise self._transport_error(error) from None
            if response.is_success:
                return response
            failure = self._status_error(response)
            response.close()
            if response.status_code != 429 and response.status_code < 500:
                break
        raise failure

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        try:
            yield from response.iter_lines()
        except httpx.HTTPError as error:
            raise self._transport_error(error) from None

    def _transport_error(self, error: httpx.HTTPError) -> GenerationError:
        if isinstance(error, httpx.TimeoutException):
            return GenerationError(
                f"timeout: the model server at {self.url} sent nothing for "
                f"{self._timeout.read} s; it may be overloaded or still loading the model. "
                "Retry, or raise the timeout (generate.timeout)")
        return GenerationError(f"the connection to the model server at {self.url} failed "
                               f"({type(error).__name__}: {error}); check the server's log")

    def _status_error(self, response: httpx.Response) -> GenerationError:
        status = response.status_code
        try:
            excerpt = _cut(response.read().decode("utf-8", errors="replace"))
        except httpx.HTTPError:
            excerpt = "(no body)"
        if status in (401, 403):
            return GenerationError(f"the model server at {self.url} refused the request "
                                   f"(HTTP {status}): {self._key_hint()}. It said: {excerpt}")
        hint = {404: f"check that the URL ends in /v1 and that the server serves the model "
                     f"{self.model!r}",
                429: "the server is rate limiting: wait, or send fewer requests"}.get(
            status, "see the server's log" if status >= 500 else "check the request")
        return GenerationError(f"the model server at {self.url} answered HTTP {status}: "
                               f"{excerpt} ({hint})")

    def _key_hint(self) -> str:
        if not self.api_key_env:
            return ("it needs an API key: name the environment variable holding it with "
                    "api_key_env")
        if not self._key():
            return f"set the environment variable {self.api_key_env} to the API key"
        return f"check the API key in the environment variable {self.api_key_env}"


def _garbage(url: str, event: str) -> GenerationError:
    return GenerationError(f"the model server at {url} sent something that is not an OpenAI "
                           f"chat completion stream: {_cut(event)!r}. Is the URL an "
                           "OpenAI-compatible /v1 endpoint?")


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."
