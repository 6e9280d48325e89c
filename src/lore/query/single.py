"""``single``: one retrieval for the question as asked, then the answer."""

from __future__ import annotations

from collections.abc import Iterator

from lore.query.common import answer, searched
from lore.query.protocol import Event, Planning
from lore.types import Hit, Step


class Single:
    """The question is the query."""

    name = "single"

    def retrieve(self, question: str, planning: Planning, k: int
                 ) -> tuple[list[Hit], list[Step]]:
        hits, step = searched(planning, question, k)
        return hits, [step]

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        hits, steps = self.retrieve(question, planning, planning.k)
        yield from steps
        yield from answer(planning, question, planning.read(hits))
