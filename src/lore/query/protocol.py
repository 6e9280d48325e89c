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

import numpy as np

from lore.config import GenerateConfig, QueryConfig
from lore.generate.answer import Answerer
from lore.graph.model import Graph
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


class CommunityReader(Protocol):
    """What LazyGraphRAG's strategies read besides search: the concept graph, chunk rankings
    by rowid (the graph's communities hold rowids), hits for rowids, and the relevance test."""

    @property
    def test_name(self) -> str:
        """What judges relevance: ``embedding``, or a reranker's name."""

    def graph(self) -> tuple[Graph, list[str]]:
        """The concept graph, caught up with the store, and its concept names."""

    def rank(self, text: str, depth: int, retrievers: Sequence[str]) -> list[int]:
        """Chunk rowids by relevance to ``text``, best first, at most ``depth``."""

    def hits(self, rowids: Sequence[int]) -> dict[int, Hit]:
        """Hits for these chunks by rowid (a chunk removed meanwhile is left out)."""

    def relevant(self, question: str, rowids: Sequence[int]) -> np.ndarray:
        """For each chunk, its relevance score minus the test's threshold: positive when the
        chunk is relevant to ``question``."""


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
    communities: CommunityReader | None = None
    """The concept graph's communities, for ``global`` and ``local``."""


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
