"""OpenAI-compatible endpoints: any OpenAI client can ask a collection.

``base_url=http://host:port/v1`` and ``model=<collection>``. The last user message is the
question. The answer's message carries its ``[n]`` citations and a numbered source list; the
response adds the structured citations and sources in an extra ``lore`` field.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lore.config import MAX_QUERY_CHARS
from lore.embed.batching import embed_queries
from lore.errors import LoreError
from lore.records import answer_record
from lore.serve.answers import stream_answer
from lore.serve.errors import ApiError
from lore.serve.keys import Key
from lore.serve.state import KeyDep, Server, ServerDep, reader
from lore.types import Answer, Step

router = APIRouter(prefix="/v1", tags=["openai"])
MAX_INPUTS = 256


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatIn(BaseModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


class EmbeddingsIn(BaseModel):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    """``base64``: little-endian float32 bytes (what the official client asks for)."""


@router.get("/models")
def models(state: Server = ServerDep, key: Key = KeyDep) -> dict[str, object]:
    """Each collection the key can read is a model."""
    names = [n for n in state.collections.names() if key.sees(n)]
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0,
                                        "owned_by": "lore"} for n in names]}


@router.post("/chat/completions", response_model=None)
async def chat(body: ChatIn, state: Server = ServerDep, key: Key = KeyDep
               ) -> StreamingResponse | dict[str, Any]:
    kb = reader(state, key, body.model)
    question = _question(body.messages)
    ticket = state.gate.enter()
    events = stream_answer(kb, question, {}, ticket)
    show = state.show_path(body.model)
    reply = _Reply(body.model)
    if body.stream:
        return StreamingResponse(_chunks(reply, events, show), media_type="text/event-stream")
    async for event in events:
        if isinstance(event, Answer):
            return reply.completion(event, answer_record(event, show))
    raise AssertionError("an answer stream always ends with its Answer")


@router.post("/embeddings")
async def embeddings(body: EmbeddingsIn, state: Server = ServerDep, key: Key = KeyDep
                     ) -> dict[str, object]:
    """Vectors from the collection's own embedder (``model`` names the collection)."""
    kb = reader(state, key, body.model)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_INPUTS or any(len(t) > MAX_QUERY_CHARS for t in texts):
        raise ApiError(400, "bad_request", f"send 1..{MAX_INPUTS} inputs of at most "
                       f"{MAX_QUERY_CHARS:,} characters each")
    vectors = await run_in_threadpool(embed_queries, kb.embedder, texts)
    tokens = sum(kb.embedder.count_tokens(texts))
    return {"object": "list", "model": body.model,
            "data": [{"object": "embedding", "index": i,
                      "embedding": _encode(v, body.encoding_format)}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class _Reply:
    """The ids and shapes of one chat completion."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())

    def completion(self, answer: Answer, record: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": answer.text + _source_list(record)}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "lore": _extra(record)}

    def chunk(self, delta: dict[str, str], finish: str | None = None,
              extra: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk",
                                "created": self.created, "model": self.model,
                                "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]}
        if extra is not None:
            body["lore"] = extra
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _chunks(reply: _Reply, events: AsyncIterator[str | Step | Answer], show: Any
                  ) -> AsyncIterator[str]:
    yield reply.chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if isinstance(event, Answer):
                record = answer_record(event, show)
                sources = _source_list(record)
                if sources:
                    yield reply.chunk({"content": sources})
                yield reply.chunk({}, finish="stop", extra=_extra(record))
            elif isinstance(event, str):  # a strategy's steps are not the reply's content
                yield reply.chunk({"content": event})
    except LoreError as exc:  # the status line is sent: the error travels in the stream,
        # shaped as OpenAI's own in-stream errors, which its clients raise
        error = {"message": str(exc), "type": "generation_failed", "code": "generation_failed"}
        yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    values: list[float] = vector.tolist()
    return values


def _question(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            text = message.content if isinstance(message.content, str) else " ".join(
                str(part.get("text", "")) for part in message.content or []
                if part.get("type") == "text")
            if len(text) > MAX_QUERY_CHARS:
                raise ApiError(400, "bad_request", f"the question is {len(text):,} characters; "
                               f"ask in at most {MAX_QUERY_CHARS:,}")
            if text.strip():
                return text
    raise ApiError(400, "no_question", "the messages hold no user message with text; the last "
                   "user message is the question")


def _source_list(record: dict[str, Any]) -> str:
    cited = {c["number"] for c in record["citations"]}
    lines = [f"[{s['number']}] {s['label']}" for s in record["sources"] if s["number"] in cited]
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def _extra(record: dict[str, Any]) -> dict[str, Any]:
    return {"citations": record["citations"], "sources": record["sources"],
            "found": record["found"], "timings": record["timings"]}
