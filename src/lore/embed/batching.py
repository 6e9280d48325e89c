"""Micro-batching of query embeddings across threads.

A server answers many searches at once; embedding each query alone wastes the matrix units on
one short row at a time. ``QueryBatcher`` lets the first caller of a round wait a moment for
others, embeds every waiting query in one forward pass, and hands each caller its row.

>>> batcher = QueryBatcher(embedder, window=0.002, max_batch=32)
>>> vector = batcher.embed_query("how are expired cache entries removed?")  # from any thread
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lore.embed.protocol import Embedder


@dataclass
class _Request:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: np.ndarray | None = None
    error: BaseException | None = None


class QueryBatcher:
    """Embeds queries from concurrent threads in shared batches.

    Args:
        embedder: the model; ``embed_queries(texts)`` is used when it has one, else
            ``embed_query`` row by row (still one caller at a time on the model).
        window: seconds the first query of a round waits for company.
        max_batch: at most this many queries per forward pass.
    """

    def __init__(self, embedder: Embedder, window: float = 0.002, max_batch: int = 32) -> None:
        self.embedder = embedder
        self.window = window
        self.max_batch = max_batch
        self._pending: list[_Request] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._leading = False
        self.batches = 0
        """Forward passes run so far (the server's status reports it)."""
        self.queries = 0

    def embed_query(self, text: str) -> np.ndarray:
        request = _Request(text)
        with self._lock:
            self._pending.append(request)
            lead = not self._leading
            if lead:
                self._leading = True
            else:
                self._arrived.notify()
        if lead:
            self._lead()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.vector is not None
        return request.vector

    def _lead(self) -> None:
        """Gather a batch, embed it, and pass the lead on while queries keep arriving."""
        while True:
            with self._lock:
                deadline = time.monotonic() + self.window
                while len(self._pending) < self.max_batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._arrived.wait(left)
                batch, self._pending = (self._pending[:self.max_batch],
                                        self._pending[self.max_batch:])
            self._embed(batch)
            with self._lock:
                if not self._pending:
                    self._leading = False
                    return

    def _embed(self, batch: Sequence[_Request]) -> None:
        try:
            vectors = embed_queries(self.embedder, [r.text for r in batch])
        except BaseException as exc:  # every waiting caller must learn of it, not hang
            for request in batch:
                request.error = exc
                request.done.set()
            return
        self.batches += 1
        self.queries += len(batch)
        for request, vector in zip(batch, vectors, strict=True):
            request.vector = vector
            request.done.set()


def embed_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Several queries at once, batched when the embedder can."""
    batched = getattr(embedder, "embed_queries", None)
    if batched is not None:
        result: np.ndarray = batched(texts)
        return result
    return np.stack([embedder.embed_query(text) for text in texts])
