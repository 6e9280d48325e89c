"""The Retriever seam: a query and a candidate set in, one ranked list of chunks out.

Lexical (BM25) and dense (embeddings) are retrievers; a graph or SQL retriever is one more.
``lore.retrieve.search.Searcher`` runs the ones a search asks for and fuses their lists
(``lore.retrieve.fuse``), keeping each retriever's own score and rank on every hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

Ranking = list[tuple[int, float]]
"""``(chunk rowid, score)`` pairs, best first."""


def to_ranking(keys: np.ndarray, scores: np.ndarray) -> Ranking:
    """An index's parallel key and score arrays as a ``Ranking``."""
    return [(int(key), float(score)) for key, score in zip(keys, scores, strict=True)]


@dataclass(frozen=True)
class Query:
    """What a retriever reads: the text, and its embedding when a retriever needs one."""

    text: str
    vector: np.ndarray | None = None
    """The query embedded by the knowledge base's embedder; ``None`` unless a retriever that
    ``reads_vector`` takes part."""


@dataclass(frozen=True)
class RankedList:
    """One retriever's answer to one query."""

    retriever: str
    ranking: Ranking
    complete: bool = False
    """The ranking holds every chunk this retriever scores above zero (it came back shorter
    than asked), so a chunk it lacks scored 0 rather than "below the cut"."""


class Retriever(Protocol):
    """Ranks chunks for a query.

    Contract (checked by ``lore.testing.contracts.RetrieverContract``):

    - ``retrieve`` returns at most ``n`` ``(rowid, score)`` pairs, best first, higher scores
      better, each rowid once and, when ``allowed`` is given, only rowids in it (the chunks a
      metadata filter lets through). An empty index or a query it finds nothing for gives an
      empty list, never an error.
    - ``reads(query)`` is False when the retriever's ranking for this query would be noise
      (an English-only embedder given Chinese text); fusion then leaves it out.
    - ``reads_vector`` says whether ``retrieve`` needs ``query.vector``: the caller embeds the
      query once, outside any lock, for all retrievers that do.
    - It reads derived indexes that follow the store; the caller serialises calls.
    """

    name: str
    reads_vector: bool

    def reads(self, query: Query) -> bool: ...

    def retrieve(self, query: Query, n: int, allowed: np.ndarray | None) -> RankedList: ...


@runtime_checkable
class KeepsVectors(Protocol):
    """A retriever whose index holds the chunks' vectors in memory (the dense retriever over an
    exact or HNSW index): rescoring and diversifying read them there, not from the store."""

    def stored_vectors(self, keys: np.ndarray) -> np.ndarray | None:
        """float32 rows for ``keys`` in that order, or ``None`` when it cannot give them all."""
        ...


class VectorScorer(Protocol):
    """Rescores a query's first candidates from the vectors the store already holds (a
    learned scoring head, ``lore.rerank.heads``): no model runs on any text.

    ``score_vectors`` takes the query's vector (d,) and the candidates' (n, d), and returns
    (n,) finite float32 scores, higher more relevant, in the order given.
    """

    @property
    def name(self) -> str: ...

    def score_vectors(self, query: np.ndarray, passages: np.ndarray) -> np.ndarray: ...
