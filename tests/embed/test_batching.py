"""Query micro-batching: concurrent callers share forward passes and get their own rows."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from lore.config import EmbedConfig
from lore.embed.batching import QueryBatcher
from lore.embed.registry import create_embedder
from lore.testing.fakes import HashEmbedder

QUERIES = [f"question number {i} about caches and retries" for i in range(24)]


def run_concurrently(batcher: QueryBatcher, queries: Sequence[str]) -> list[np.ndarray]:
    results: list[np.ndarray | None] = [None] * len(queries)
    start = threading.Barrier(len(queries))

    def ask(i: int) -> None:
        start.wait()
        results[i] = batcher.embed_query(queries[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(queries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


@pytest.mark.slow
def test_batched_queries_match_single_ones_with_the_real_model() -> None:
    embedder = create_embedder(EmbedConfig(model="minilm", dtype="float32"))
    batcher = QueryBatcher(embedder, window=0.02, max_batch=8)
    vectors = run_concurrently(batcher, QUERIES)
    assert len(vectors) == len(QUERIES)
    for query, vector in zip(QUERIES, vectors, strict=True):
        assert float(vector @ embedder.embed_query(query)) > 0.9999
    assert batcher.queries == len(QUERIES)
    assert batcher.batches < len(QUERIES)  # shared passes, each at most max_batch


class FailingEmbedder(HashEmbedder):
    def embed_query(self, text: str) -> np.ndarray:
        raise RuntimeError("model crashed")


def test_an_error_reaches_every_waiting_caller() -> None:
    batcher = QueryBatcher(FailingEmbedder(dim=8), window=0.01)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            batcher.embed_query("x")
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(errors) == 6


def test_a_lone_query_is_embedded_without_company() -> None:
    embedder = HashEmbedder(dim=16)
    batcher = QueryBatcher(embedder, window=0.001)
    assert np.allclose(batcher.embed_query("caches"), embedder.embed_query("caches"))
    assert (batcher.batches, batcher.queries) == (1, 1)
