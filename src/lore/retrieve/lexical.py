"""BM25 over the analysed terms of every chunk view (``lore.store.bm25``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lore.retrieve.protocol import Query, RankedList, to_ranking
from lore.retrieve.tuning import Tuning
from lore.store.bm25 import BM25Index
from lore.store.derived import DerivedIndex
from lore.text.analyze import analyze


class LexicalRetriever:
    """Ranks chunks by BM25 over the query's terms (stemmed English, segmented Chinese).

    >>> retriever = LexicalRetriever(terms)          # a DerivedIndex over the store's terms
    >>> retriever.retrieve(Query("cache ttl"), n=10, allowed=None).ranking[:1]
    """

    name = "lexical"
    reads_vector = False

    def __init__(self, terms: DerivedIndex[BM25Index],
                 tuning: Callable[[], Tuning] = Tuning) -> None:
        self._terms = terms
        self._tuning = tuning
        """The knowledge base's current k1, b and query-term counting (it may fit new ones
        while open)."""

    def reads(self, query: Query) -> bool:
        return True

    def retrieve(self, query: Query, n: int, allowed: np.ndarray | None) -> RankedList:
        index = self._terms.current()
        tuning = self._tuning()
        if (index.k1, index.b) != (tuning.k1, tuning.b):
            index.set_parameters(tuning.k1, tuning.b)
        terms = analyze(query.text)
        if not tuning.query_repeats:
            terms = list(dict.fromkeys(terms))
        if not terms or len(index) == 0:
            return RankedList(self.name, [], complete=True)
        ranking = to_ranking(*index.search(terms, n, allowed))
        # Fewer hits than asked: every other chunk holds no query term and scores 0.
        return RankedList(self.name, ranking, complete=len(ranking) < n)
