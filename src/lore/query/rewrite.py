"""Strategies that write other queries for the question, search each beside it and fuse the
lists: ``multi-query`` (several rewrites), ``hyde`` (a hypothetical answer passage, searched
by its embedding; Gao et al. 2022) and ``step-back`` (a more general question; Zheng et al.
2023). The question is always searched too, so a poor rewrite costs rank, not recall."""

from __future__ import annotations

from collections.abc import Iterator

from lore.query.common import answer, budget_step, fuse_hits, searched, written_step
from lore.query.prompts import (
    HYDE,
    REWRITE,
    STEP_BACK,
    PlanPrompt,
    lines_of,
    planning_messages,
)
from lore.query.protocol import Event, Planning
from lore.types import Hit, Step

Query = tuple[str, tuple[str, ...] | None]
"""A text to search and the retrievers to search it with (None: the knowledge base's)."""


class Rewriting:
    """Search the question and the queries ``queries`` writes; fuse by reciprocal rank."""

    name = "rewrite"

    def queries(self, question: str, planning: Planning) -> tuple[list[Query], list[Step]]:
        raise NotImplementedError

    def retrieve(self, question: str, planning: Planning, k: int
                 ) -> tuple[list[Hit], list[Step]]:
        queries, steps = self.queries(question, planning)
        lists = []
        for text, retrievers in [(question, None), *queries]:
            hits, step = searched(planning, text, k, retrievers)
            lists.append(hits)
            steps.append(step)
        return fuse_hits(lists, k), steps

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        hits, steps = self.retrieve(question, planning, planning.k)
        yield from steps
        yield from answer(planning, question, planning.read(hits))

    def _write(self, question: str, planning: Planning, prompt: PlanPrompt, kind: str,
               **fields: object) -> tuple[str | None, list[Step]]:
        written = planning.budget.write(planning_messages(question, prompt, **fields),
                                        planning.settings.plan_tokens)
        if written is None:
            return None, [budget_step(planning)]
        return written.text, [written_step(kind, written)]


class MultiQuery(Rewriting):
    """``query.rewrites`` rewrites of the question, each searched."""

    name = "multi-query"

    def queries(self, question: str, planning: Planning) -> tuple[list[Query], list[Step]]:
        count = planning.settings.rewrites
        text, steps = self._write(question, planning, REWRITE, "rewrite", n=count)
        return [(line, None) for line in lines_of(text or "", count, question)], steps


class Hyde(Rewriting):
    """A passage that would answer the question, searched by its embedding: it reads like
    the passages sought, where the question does not."""

    name = "hyde"

    def queries(self, question: str, planning: Planning) -> tuple[list[Query], list[Step]]:
        text, steps = self._write(question, planning, HYDE, "hyde")
        return ([(text, ("dense",))] if text else []), steps


class StepBack(Rewriting):
    """The more general question behind the question, searched beside it."""

    name = "step-back"

    def queries(self, question: str, planning: Planning) -> tuple[list[Query], list[Step]]:
        text, steps = self._write(question, planning, STEP_BACK, "step-back")
        general = lines_of(text or "", 1, question)
        return [(general[0], None)] if general else [], steps
