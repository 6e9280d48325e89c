"""Nearest neighbours of the query's embedding in the vector index (exact or ANN)."""

from __future__ import annotations

import numpy as np

from lore.errors import QueryError, StoreError
from lore.retrieve.protocol import Query, RankedList, to_ranking
from lore.store.derived import DerivedIndex
from lore.store.protocol import HoldsVectors, VectorIndex
from lore.text.script import mostly_non_latin


class DenseRetriever:
    """Ranks chunks by the cosine of their view's embedding with the query's.

    >>> retriever = DenseRetriever(vectors, latin_only=True)   # MiniLM reads English only
    >>> retriever.retrieve(Query("cache ttl", vector), n=10, allowed=None).ranking[:1]
    """

    name = "dense"
    reads_vector = True

    def __init__(self, vectors: DerivedIndex[VectorIndex], latin_only: bool = False) -> None:
        self._vectors = vectors
        self._latin_only = latin_only

    def reads(self, query: Query) -> bool:
        """An English-only embedder's vector for mostly non-Latin text is noise."""
        return not (self._latin_only and mostly_non_latin(query.text))

    def retrieve(self, query: Query, n: int, allowed: np.ndarray | None) -> RankedList:
        if query.vector is None:
            raise QueryError("dense retrieval needs the query's embedding; none was given")
        index = self._vectors.current()
        if len(index) == 0:
            return RankedList(self.name, [])
        return RankedList(self.name, to_ranking(*index.search(query.vector, n, allowed)))

    def stored_vectors(self, keys: np.ndarray) -> np.ndarray | None:
        """The vectors of ``keys`` from the index in memory; ``None`` when it keeps only codes
        (IVF-PQ, LSH) or lacks one of the keys, so the caller reads the store."""
        index = self._vectors.current()
        if not isinstance(index, HoldsVectors):
            return None
        try:
            return index.vectors_of(keys)
        except StoreError:
            return None
