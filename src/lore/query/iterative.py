"""``iterative``: interleave reasoning and retrieval, as IRCoT does (Trivedi et al. 2023).
Retrieve for the question; then, hop by hop, the model writes the next sentence of
reasoning over the sources so far, and that sentence, beside the question, is the next
query. It stops when a sentence after the first hop states the answer or repeats an earlier
one, at ``query.hops``, or at the budget. The answer step then reads every source gathered,
with the reasoning as notes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

from lore.generate.prompt import excerpt_span
from lore.query.common import answer, budget_step, new_hits, searched, written_step
from lore.query.prompts import final_answer, reasoning_messages, without_mark
from lore.query.protocol import Event, Planning
from lore.types import Passage

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s")


class Iterative:
    """Reason a sentence, retrieve for it, repeat."""

    name = "iterative"

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        settings = planning.settings
        retrievers = settings.hop_retrievers or None
        hits, step = searched(planning, question, planning.k, retrievers)
        yield step
        seen: set[str] = set()
        gathered = planning.read(new_hits(hits, seen))
        reasoning: list[str] = []
        for hop in range(settings.hops):
            messages = reasoning_messages(question, self._excerpts(question, gathered,
                                                                   planning), reasoning)
            written = planning.budget.write(messages, settings.plan_tokens, stop=("\n",))
            if written is None:
                yield budget_step(planning)
                break
            sentence = first_sentence(written.text)
            yield written_step("reason", written)
            if not sentence or _said(sentence, reasoning):
                break  # nothing new to search for
            reasoning.append(sentence)
            if final_answer(sentence) is not None and hop > 0:
                break
            # A first sentence that already states an answer is searched too: a small model
            # often names the bridge entity there, and the answer's passage is the next hop.
            # The question rides along: alone, a sentence loses what the question asks.
            query = f"{question} {without_mark(sentence)}"
            hits, step = searched(planning, query, settings.hop_k + len(seen), retrievers)
            fresh = new_hits(hits, seen, settings.hop_k)
            yield replace(step, hits=tuple(fresh))  # what this hop adds
            gathered += planning.read(fresh)
        yield from answer(planning, question, gathered, reasoning, every_source=True)

    @staticmethod
    def _excerpts(question: str, passages: Sequence[Passage], planning: Planning
                  ) -> list[str]:
        """Each passage cut, as the answer's prompt would cut it, to the sentences that best
        match the question."""
        generator = planning.answerer.generator
        limit = planning.answerer.settings.source_tokens
        texts = []
        for passage in passages:
            start, end = excerpt_span(passage.text, question, limit, generator)
            texts.append(passage.text[start:end])
        return texts


def _said(sentence: str, reasoning: Sequence[str]) -> bool:
    """The sentence repeats one already written (small models loop)."""
    return _plain(sentence) in {_plain(earlier) for earlier in reasoning}


def _plain(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def first_sentence(text: str) -> str:
    """The first sentence of a model's reply (it may write on past what was asked)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return _SENTENCE_END.split(line, maxsplit=1)[0].strip()
