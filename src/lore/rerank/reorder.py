"""Reorder search hits by a reranker's scores: ``rerank``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from lore.errors import ConfigError, RetrievalError
from lore.rerank.protocol import Reranker
from lore.types import Hit


def rerank(reranker: Reranker, query: str, hits: Sequence[Hit], k: int | None = None, *,
           depth: int | None = None) -> list[Hit]:
    """The first ``depth`` hits reordered by ``reranker``, then the rest in their order.

    Each reranked hit gets the reranker's score as ``score``, ``source="rerank"``, and keeps
    its first-stage scores and ranks beside ``scores["rerank"]`` and ``ranks["rerank"]``.
    Hits past ``depth`` are returned unchanged after them (their ``score`` is still the
    first-stage one). The reranker reads each chunk's ``view`` (title and section trail, or
    a code description, around the text), as the retrievers do.

    Example::

        hits = kb.search("what lowers blood pressure?", k=50)
        best = rerank(create_reranker("llm:qwen-0.5b"), query, hits, k=10, depth=20)

    Args:
        reranker: any ``Reranker``.
        query: the text the hits were retrieved for.
        hits: first-stage results, best first.
        k: how many hits to return; ``None`` returns them all.
        depth: how many of the first hits to rerank; ``None`` reranks them all.
    """
    if k is not None and k < 0:
        raise ConfigError(f"k must be zero or more, got {k}")
    if depth is not None and depth < 0:
        raise ConfigError(f"depth must be zero or more, got {depth}")
    if k == 0:
        return []
    head = list(hits[:depth]) if depth is not None else list(hits)
    tail = list(hits[len(head):])
    if head:
        scores = _checked(reranker, reranker.score(query, [hit.chunk.view for hit in head]),
                          len(head))
        head = order_by_scores(head, scores)
    out = head + tail
    return out if k is None else out[:k]


def order_by_scores(hits: Sequence[Hit], scores: np.ndarray) -> list[Hit]:
    """``hits`` sorted by ``scores``, best first; ties keep their first-stage order. Each hit
    records the score and its new 1-based rank under ``"rerank"``."""
    order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))
    return [
        dataclasses.replace(
            hits[i], score=float(scores[i]), source="rerank",
            scores={**hits[i].scores, "rerank": float(scores[i])},
            ranks={**hits[i].ranks, "rerank": rank},
        )
        for rank, i in enumerate(order, start=1)
    ]


def _checked(reranker: Reranker, scores: np.ndarray, n: int) -> np.ndarray:
    if scores.shape != (n,):
        raise RetrievalError(f"reranker {reranker.name!r} returned scores of shape "
                             f"{scores.shape} for {n} passages")
    if not np.isfinite(scores).all():
        raise RetrievalError(f"reranker {reranker.name!r} returned non-finite scores")
    return scores
