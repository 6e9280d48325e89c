"""Strategies by name, and running one so that its answer carries its steps.

>>> events = run_strategy(strategy_named("hyde"), question, planning)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import get_args

from lore.config import StrategyName
from lore.errors import ConfigError
from lore.query.auto import Auto
from lore.query.decompose import Decompose
from lore.query.iterative import Iterative
from lore.query.lazy import GLOBAL, LOCAL
from lore.query.long_context import LongContext
from lore.query.protocol import Event, Planning, Retrieving, Strategy
from lore.query.reflect import Reflect
from lore.query.rewrite import Hyde, MultiQuery, StepBack
from lore.query.single import Single
from lore.query.sql import Sql
from lore.types import Answer, Step

STRATEGIES: dict[str, Strategy] = {strategy.name: strategy for strategy in (
    Single(), MultiQuery(), Hyde(), StepBack(), Decompose(), Iterative(), Reflect(),
    LongContext(), Sql(), GLOBAL, LOCAL)}
STRATEGIES["auto"] = Auto(STRATEGIES)
RETRIEVING: dict[str, Retrieving] = {s.name: s for s in (Single(), MultiQuery(), Hyde(),
                                                        StepBack())}
"""The strategies that only shape retrieval, which ``search`` can run too."""


def strategy_named(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; choose from "
                          f"{', '.join(STRATEGIES)}") from None


def retrieving_named(name: str) -> Retrieving:
    if name not in RETRIEVING:
        raise ConfigError(f"strategy {name!r} does more than retrieve; search takes "
                          f"{', '.join(RETRIEVING)} (ask takes every strategy)")
    return RETRIEVING[name]


def run_strategy(strategy: Strategy, question: str, planning: Planning) -> Iterator[Event]:
    """The strategy's events; its final ``Answer`` carries every step and the strategy's name
    (``auto`` names the one it chose)."""
    steps: list[Step] = []
    for event in strategy.run(question, planning):
        if isinstance(event, Step):
            steps.append(event)
        if isinstance(event, Answer):
            name = event.strategy if isinstance(strategy, Auto) else strategy.name
            event = replace(event, strategy=name, steps=(*steps, *event.steps))
        yield event


STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)
"""Every strategy's name, as ``query.strategy`` accepts it (a test checks both agree)."""
