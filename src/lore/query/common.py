"""What several strategies do alike: search and trace it, fuse the hit lists of several
queries, and hand passages to the answer step."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from lore.query.budget import Written
from lore.query.protocol import Event, Planning
from lore.types import Filter, Hit, Passage, Step

RRF_K = 60
"""Reciprocal rank fusion's constant (Cormack et al. 2009), as ``lore.retrieve.fuse`` uses."""


def searched(planning: Planning, text: str, k: int, retrievers: Sequence[str] | None = None,
             where: Filter | None = None) -> tuple[list[Hit], Step]:
    """``planning.search`` and the step that traces it."""
    started = time.perf_counter()
    hits = planning.search(text, k, retrievers, where)
    return hits, Step("retrieve", text, tuple(hits), time.perf_counter() - started)


def fuse_hits(lists: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """The first ``k`` chunks by reciprocal rank fusion over ``lists``; each keeps the hit of
    the first list that found it, so the question's own scores (and the relevance gate read
    from them) win over a rewrite's."""
    fused: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            key = hit.chunk.id
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(key, hit)
    order = sorted(fused, key=lambda key: -fused[key])
    return [first[key] for key in order[:k]]


def written_step(kind: str, written: Written) -> Step:
    return Step(kind, written.text, seconds=written.seconds, calls=1, tokens=written.tokens)


def budget_step(planning: Planning) -> Step:
    budget = planning.budget
    return Step("budget", f"stopped at the budget: {budget.calls} planning calls and "
                          f"{budget.tokens} tokens of {budget.max_calls} calls and "
                          f"{budget.max_tokens} tokens; answering from what was found")


def new_hits(hits: Sequence[Hit], seen: set[str], limit: int | None = None) -> list[Hit]:
    """The first ``limit`` of ``hits`` whose chunks are not in ``seen``, which learns them."""
    fresh = [hit for hit in hits if hit.chunk.id not in seen][:limit]
    seen.update(hit.chunk.id for hit in fresh)
    return fresh


def answer(planning: Planning, question: str, passages: Sequence[Passage],
           notes: Sequence[str] = (), every_source: bool = False) -> Iterator[Event]:
    """The answer step over ``passages``. ``every_source`` reads them all, in the order
    given (gathered over several steps, they are not one ranking to cut by mass)."""
    answerer = planning.answerer
    if every_source:
        answerer = answerer.adjusted(source_mass=None, question_likelihood=0.0)
    yield from answerer.stream(question, passages, planning.started, notes)
