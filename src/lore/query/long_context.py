"""``long-context``: find the documents, then let the model read them whole, up to a long
context window (``query.long_context_tokens``), instead of the passages retrieval cut out.
It costs prefill time and memory that grow with the window (``benchmarks/long_context.py``
puts both side by side)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from lore.query.common import searched
from lore.query.protocol import Event, Planning


class LongContext:
    """The retrieved documents, whole, in one prompt."""

    name = "long-context"

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        hits, step = searched(planning, question, planning.k)
        yield step
        window = planning.settings.long_context_tokens
        settings = replace(planning.answerer.settings, context_tokens=window,
                           source_tokens=window, source_mass=None, question_likelihood=0.0,
                           mode="stuff")
        answerer = planning.answerer_for(settings)
        yield from answerer.stream(question, planning.whole(hits), planning.started)
