"""Retrievers by name, and ``create_retrievers`` to build them over a knowledge base's indexes.

A new retriever (graph, SQL over metadata) is a class satisfying
``lore.retrieve.protocol.Retriever`` and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lore.errors import ConfigError
from lore.retrieve.dense import DenseRetriever
from lore.retrieve.graph import GraphRetriever
from lore.retrieve.lexical import LexicalRetriever
from lore.retrieve.protocol import Retriever
from lore.retrieve.tuning import Tuning
from lore.store.bm25 import BM25Index
from lore.store.concepts import ConceptIndex
from lore.store.derived import DerivedIndex
from lore.store.protocol import Store, VectorIndex


@dataclass(frozen=True)
class RetrieverSources:
    """What retrievers read: the store and the derived indexes kept beside it."""

    store: Store
    terms: DerivedIndex[BM25Index]
    vectors: DerivedIndex[VectorIndex]
    latin_only: bool = False
    """The embedder reads only Latin-script text (its registry entry says so)."""
    tuning: Callable[[], Tuning] = Tuning
    """The knowledge base's fitted retrieval parameters, read at each search."""
    concepts: DerivedIndex[ConceptIndex] | None = None
    """The concept index the graph retriever walks."""


RETRIEVERS: dict[str, Callable[[RetrieverSources], Retriever]] = {
    "lexical": lambda sources: LexicalRetriever(sources.terms, sources.tuning),
    "dense": lambda sources: DenseRetriever(sources.vectors, sources.latin_only),
    "graph": lambda sources: GraphRetriever(
        _needed(sources.concepts), LexicalRetriever(sources.terms, sources.tuning)),
}
"""Registered retrievers, in the order fusion reads them. A search runs those its mode names
(``lore.retrieve.search.MODES``: lexical and dense) unless it names others."""


def create_retrievers(sources: RetrieverSources, names: Sequence[str] | None = None
                      ) -> dict[str, Retriever]:
    """The retrievers ``names`` (default: every registered one) over ``sources``."""
    chosen = list(RETRIEVERS) if names is None else list(names)
    unknown = [name for name in chosen if name not in RETRIEVERS]
    if unknown:
        raise ConfigError(f"unknown retriever {', '.join(unknown)}; choose from "
                          f"{', '.join(RETRIEVERS)}")
    return {name: RETRIEVERS[name](sources) for name in chosen}


def _needed(concepts: DerivedIndex[ConceptIndex] | None) -> DerivedIndex[ConceptIndex]:
    if concepts is None:
        raise ConfigError("the graph retriever needs the knowledge base's concept index")
    return concepts
