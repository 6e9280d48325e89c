"""Answers over HTTP: the model runs on a worker thread, text flows to the event loop.

Generation takes seconds and holds a CPU, so it never runs on the event loop: a thread walks
``KnowledgeBase.ask_stream`` and hands each piece to the loop through a queue. A client that
goes away stops the generation at the next token.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lore.api import KnowledgeBase
from lore.errors import LoreError
from lore.records import ShowPath, answer_record, step_record
from lore.serve.gate import Ticket
from lore.types import Answer, Step

_GENERATION = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lore-answer")
"""Threads that wait their turn at the gate and generate; apart from the request pool, so
waiting answers never starve searches."""
_END = object()


async def answer_once(kb: KnowledgeBase, question: str, options: dict[str, Any],
                      ticket: Ticket, show: ShowPath) -> dict[str, Any]:
    answer = None
    async for event in stream_answer(kb, question, options, ticket):
        if isinstance(event, Answer):
            answer = event
    assert answer is not None  # the stream always ends with its Answer
    return answer_record(answer, show)


async def answer_events(kb: KnowledgeBase, question: str, options: dict[str, Any],
                        ticket: Ticket, show: ShowPath) -> AsyncIterator[str]:
    """Server-sent events: ``step`` for each step of the strategy, ``token`` with
    ``{"text"}``, then ``answer`` or ``error``."""
    try:
        async for event in stream_answer(kb, question, options, ticket):
            if isinstance(event, Answer):
                yield sse("answer", answer_record(event, show))
            elif isinstance(event, Step):
                yield sse("step", step_record(event, show))
            else:
                yield sse("token", {"text": event})
    except LoreError as exc:  # headers are sent: the error travels as an event
        yield sse("error", {"code": "generation_failed", "message": str(exc)})


async def stream_answer(kb: KnowledgeBase, question: str, options: dict[str, Any],
                        ticket: Ticket) -> AsyncIterator[str | Step | Answer]:
    """``kb.ask_steps`` on a generation thread, after the ticket's turn comes."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def put(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        try:
            with ticket:
                if stop.is_set():
                    return
                for event in _until(stop, kb.ask_steps(question, **options)):
                    put(event)
        except BaseException as exc:  # delivered to the request, which raises it
            put(exc)
        finally:
            put(_END)

    started = False
    try:
        loop.run_in_executor(_GENERATION, produce)
        started = True
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        if not started:
            ticket.cancel()


def _until(stop: threading.Event, events: Iterator[str | Step | Answer]
           ) -> Iterator[str | Step | Answer]:
    for event in events:
        if stop.is_set():
            return
        yield event


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
