"""The Strategy seam: how a question is planned before and around its answer.

A strategy composes what ``Planning`` hands it (search, reading passages, whole documents,
metadata queries, the answer step, and model calls within a budget) and yields what it did:
``Step`` values as it goes, the answer's text pieces, and the ``Answer`` last. Strategies never
import each other; ``lore.query.registry`` names them and ``lore.query.router`` picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from lore.config import GenerateConfig, QueryConfig
from lore.generate.answer import Answerer
from lore.query.budget import Budget
from lore.query.router import Route, route
from lore.store.metadata import MetadataRows
from lore.types import Answer, Filter, Hit, Passage, Step

Event = Step | str | Answer
"""What a strategy yields: a step it took, a piece of answer text, or the final answer."""


class Search(Protocol):
    """The knowledge base's search, as strategies call it."""

    def __call__(self, text: str, k: int, retrievers: Sequence[str] | None = None,
                 where: Filter | None = None) -> list[Hit]: ...


@dataclass(frozen=True)
class Planning:
    """Everything a strategy may use for one question.

    ``where`` is the user's filter; ``search`` applies it unless given another.
    """

    search: Search
    read: Callable[[Sequence[Hit]], list[Passage]]
    """Hits widened for reading (``KnowledgeBase.passages``)."""
    whole: Callable[[Sequence[Hit]], list[Passage]]
    """Each hit's whole document, once per document, in hit order."""
    answerer: Answerer
    answerer_for: Callable[[GenerateConfig], Answerer]
    """An answer step with other settings (a longer context window)."""
    metadata: Callable[[str], MetadataRows]
    """One read-only SELECT over the ``documents`` view (``lore.store.metadata``)."""
    budget: Budget
    settings: QueryConfig
    k: int
    """Sources the answer reads (``generate.k``)."""
    started: float
    """``time.perf_counter()`` when the question arrived: the answer's timings count from it."""
    where: Filter = Filter()
    show: Callable[[str], str] = str
    """How an answer shows a stored path (a server hides where it keeps files)."""
    route: Callable[[str], Route] = route
    """How ``auto`` picks a strategy: the rules, or a trained router (``query.router``)."""


class Strategy(Protocol):
    """Plans a question and answers it.

    Contract (checked by ``tests/query/test_contract.py`` for every registered strategy):

    - ``run`` yields ``Step`` values in the order the work happened, answer text pieces, and
      ends with exactly one ``Answer`` whose text is the pieces joined.
    - It asks the model only through ``planning.budget`` (``Budget.write``) and stops asking
      when the budget says no, answering from what it has (a ``budget`` step says so).
    - It needs only text from the model, so it runs on a chat server too; token scores are
      the answer step's business (``generate.mode``).
    """

    name: str

    def run(self, question: str, planning: Planning) -> Iterator[Event]: ...


class Retrieving(Protocol):
    """A strategy that only shapes retrieval: ``lore search --strategy`` runs it alone."""

    name: str

    def retrieve(self, question: str, planning: Planning, k: int
                 ) -> tuple[list[Hit], list[Step]]: ...
