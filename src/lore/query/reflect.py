"""``reflect``: answer, check the answer against its sources, and on failure rewrite the
question as a search query and try once more (in the manner of Self-RAG's critique, with
lore's own checks in place of a trained critic): the relevance gate passed, every citation
points at a source, and each cited sentence's terms are found in its source."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from lore.query.common import answer, budget_step, fuse_hits, searched, written_step
from lore.query.prompts import REPHRASE, lines_of, planning_messages
from lore.query.protocol import Event, Planning
from lore.types import Answer, Hit, Step

MIN_SUPPORT = 0.5
"""Least share of a cited sentence's terms its source must hold for the citation to count
as support (``Citation.support``)."""


def verdict(result: Answer) -> str:
    """Why ``result`` fails its sources, or ``""`` when it passes."""
    if not result.found:
        return "retrieval found nothing relevant enough"
    if result.invalid_citations:
        return f"it cites sources that do not exist: {list(result.invalid_citations)}"
    if not result.citations:
        return "no sentence is supported by a source"
    weak = [c.number for c in result.citations if c.support < MIN_SUPPORT]
    if weak:
        return f"sources {sorted(set(weak))} do not say what their sentences say"
    return ""


def _support(result: Answer) -> float:
    if not result.citations:
        return 0.0
    return sum(c.support for c in result.citations) / len(result.citations)


class Reflect:
    """Answer, check, and at most one retry; the answer that checks better is kept."""

    name = "reflect"

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        hits, step = searched(planning, question, planning.k)
        yield step
        first = _answered(planning, question, hits)
        planning.budget.charge(*_cost(first))  # the retry must fit beside it
        problem = verdict(first)
        yield Step("check", problem or "the answer is supported by its sources")
        chosen = first
        if problem:
            written = planning.budget.write(planning_messages(question, REPHRASE),
                                            planning.settings.plan_tokens)
            if written is None:
                yield budget_step(planning)
            else:
                yield written_step("rewrite", written)
                query = (lines_of(written.text, 1, question) or [question])[0]
                again, step = searched(planning, query, planning.k)
                yield step
                second = _answered(planning, question, fuse_hits([again, hits], planning.k))
                problem = verdict(second)
                yield Step("check", problem or "the answer is supported by its sources")
                better = not problem or (second.found and _support(second) > _support(first))
                chosen = _with_calls(second, first) if better else _with_calls(first, second)
        yield chosen.text
        yield chosen


def _answered(planning: Planning, question: str, hits: Sequence[Hit]) -> Answer:
    result = None
    for event in answer(planning, question, planning.read(hits)):
        if isinstance(event, Answer):
            result = event
    assert result is not None  # the answer step always ends with its Answer
    return result


def _cost(result: Answer) -> tuple[int, int]:
    """(model calls, tokens) an answer cost."""
    tokens = result.timings.prompt_tokens + result.timings.answer_tokens
    return (1 if tokens else 0), tokens


def _with_calls(kept: Answer, dropped: Answer) -> Answer:
    """``kept``, with the answer it replaced traced as a step (its model call counted)."""
    calls, tokens = _cost(dropped)
    step = Step("answer", dropped.text, calls=calls, tokens=tokens)
    return replace(kept, steps=(*kept.steps, step))
