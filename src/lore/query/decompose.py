"""``decompose``: split the question into simple sub-questions, answer each in order from its
own retrieval (later ones searched with the earlier answers, as self-ask does), then answer
the question from every source gathered, with the sub-answers as cited notes."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from lore.generate.answer import distinct
from lore.query.common import answer, budget_step, searched, written_step
from lore.query.prompts import DECOMPOSE, lines_of, planning_messages
from lore.query.protocol import Event, Planning
from lore.types import Answer, Passage, Step


class Decompose:
    """Sub-questions, sub-answers, then the answer."""

    name = "decompose"

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        subs, steps = self._sub_questions(question, planning)
        yield from steps
        gathered: list[Passage] = []
        notes: list[str] = []
        known: list[str] = []
        for sub in subs:
            hits, step = searched(planning, " ".join([sub, *known]), planning.settings.hop_k,
                                  planning.settings.hop_retrievers or None)
            yield step
            passages = planning.read(hits)
            gathered = distinct([*gathered, *passages])
            found = self._sub_answer(sub, passages, planning)
            if found is None:
                yield budget_step(planning)
                break
            yield found[1]
            if found[0] is not None:
                text, cited = found[0]
                known.append(text)
                notes.append(_note(sub, text, cited, gathered))
        yield from answer(planning, question, gathered, notes, every_source=True)

    def _sub_questions(self, question: str, planning: Planning
                       ) -> tuple[list[str], list[Step]]:
        settings = planning.settings
        written = planning.budget.write(
            planning_messages(question, DECOMPOSE, n=settings.sub_questions),
            settings.plan_tokens)
        if written is None:
            return [question], [budget_step(planning)]
        subs = lines_of(written.text, settings.sub_questions)
        steps = [written_step("decompose", written)]
        steps += [Step("sub-question", sub) for sub in subs]
        return subs or [question], steps

    def _sub_answer(self, sub: str, passages: Sequence[Passage], planning: Planning
                    ) -> tuple[tuple[str, Passage | None] | None, Step] | None:
        """((short answer, the passage it cites) or None when not found, the step); None
        when the budget allows no call."""
        answerer = planning.answerer.adjusted(template="short", mode="stuff",
                                              question_likelihood=0.0,
                                              answer_tokens=planning.settings.plan_tokens)
        prompt = sum(answerer.generator.count_tokens(p.text) for p in passages)
        if not planning.budget.allows(prompt, planning.settings.plan_tokens):
            planning.budget.refused = True
            return None
        started = time.perf_counter()
        result = next(e for e in answerer.stream(sub, passages, planning.started)
                      if isinstance(e, Answer))
        tokens = result.timings.prompt_tokens + result.timings.answer_tokens
        planning.budget.charge(1 if tokens else 0, tokens)
        step = Step("sub-answer", result.text, seconds=time.perf_counter() - started,
                    calls=1 if tokens else 0, tokens=tokens)
        if not result.found or not result.text:
            return None, step
        cited = result.cited_sources[0].passage if result.cited_sources else None
        return (result.text, cited), step


def _note(sub: str, text: str, cited: Passage | None, gathered: Sequence[Passage]) -> str:
    """``sub`` → ``text`` [n], n the number its source will have among ``gathered``."""
    number = next((i for i, p in enumerate(gathered, start=1)
                   if cited is not None and p.hit.chunk.doc_id == cited.hit.chunk.doc_id
                   and p.start <= cited.start and cited.end <= p.end), None)
    return f"{sub} {text}" + (f" [{number}]" if number else "")
