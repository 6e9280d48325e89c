"""``auto``: route each question to a strategy before any retrieval, by the rules of
``lore.query.router`` or a router trained on traces (``lore.query.classifier``), and run it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from lore.query.protocol import Event, Planning, Strategy
from lore.types import Answer, Step


class Auto:
    """Routes each question to one of ``strategies`` and runs it."""

    name = "auto"

    def __init__(self, strategies: Mapping[str, Strategy]) -> None:
        self.strategies = dict(strategies)

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        chosen = planning.route(question)
        yield Step("route", f"{chosen.strategy}: {chosen.reason}")
        if chosen.strategy not in self.strategies:  # a router trained on a strategy since gone
            chosen = replace(chosen, strategy="single")
        for event in self.strategies[chosen.strategy].run(question, planning):
            yield replace(event, strategy=chosen.strategy) if isinstance(event, Answer) else event
