"""One search: filter, run the retrievers, fuse their lists, diversify, read the hits.

``Searcher`` holds what a search reads (the retrievers, the store, the settings) and runs
the steps in order; each step is a function of ``lore.retrieve``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lore.config import MAX_K, MAX_QUERY_CHARS, RetrieveConfig
from lore.errors import QueryError
from lore.retrieve.diversify import mmr
from lore.retrieve.filters import parse_where
from lore.retrieve.fuse import fuse
from lore.retrieve.protocol import (
    KeepsVectors,
    Query,
    RankedList,
    Ranking,
    Retriever,
    VectorScorer,
)
from lore.retrieve.tuning import Tuning
from lore.store.protocol import Store
from lore.types import Filter, Hit, SearchMode

MODES: dict[str, tuple[str, ...]] = {
    "lexical": ("lexical",),
    "dense": ("dense",),
    "hybrid": ("lexical", "dense"),
}
"""Search modes as the retrievers they run, in fusion order."""
SEARCH_MODES: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")


@dataclass(frozen=True)
class SearchRequest:
    """One search, its arguments checked (``KnowledgeBase.search`` says what each means)."""

    text: str
    retrievers: tuple[str, ...]
    k: int
    depth: int
    """Hits to return before reranking: ``k``, or the reranker's depth when one follows."""
    where: Filter = Filter()
    diversity: float = 0.0
    rescore: VectorScorer | None = None
    """Scores the first ``depth`` candidates of the vector-reading retrievers' lists (of
    every list when none reads vectors) from their stored vectors, before fusion: a learned
    similarity in place of cosine."""
    embed_query: Callable[[str], np.ndarray] | None = None
    """Embeds the query in place of the knowledge base's embedder: a trained query encoder
    whose vectors live in the stored vectors' space (``lore train rag``)."""


class Searcher:
    """Runs searches over a set of retrievers and the store they index.

    >>> searcher = Searcher(retrievers, store, RetrieveConfig(), embedder.embed_query, 384)
    >>> searcher.search(SearchRequest("cache ttl", ("lexical", "dense"), k=5, depth=5))
    """

    def __init__(self, retrievers: Mapping[str, Retriever], store: Store,
                 settings: RetrieveConfig, embed_query: Callable[[str], np.ndarray],
                 dim: int, tuning: Callable[[], Tuning] = Tuning) -> None:
        self.retrievers = dict(retrievers)
        self._tuning = tuning
        self._store = store
        self._settings = settings
        self._embed_query = embed_query
        self._dim = dim
        self._reading = threading.Lock()
        """Derived indexes catch up with the store inside a search; one search at a time
        reads them, so threads may share a Searcher."""

    def search(self, request: SearchRequest) -> list[Hit]:
        """Ranked hits for ``request``, each with every retriever's score and rank."""
        prepared = self._prepared(request)
        if prepared is None:
            return []
        with self._reading:
            fused, lists, source = self._ranked(request, *prepared)
            return self._hits(fused[:request.depth], lists, source)

    def ranking(self, request: SearchRequest) -> Ranking:
        """(chunk rowid, fused score) for ``request``, best first, without reading the chunks:
        for ranking many chunks at once (the global search ranks communities by them)."""
        prepared = self._prepared(request)
        if prepared is None:
            return []
        with self._reading:
            return self._ranked(request, *prepared)[0][:request.depth]

    def hits_of(self, ranking: Ranking, source: str) -> dict[int, Hit]:
        """Hits for chunks already ranked (rowid, score), by rowid; a chunk removed
        meanwhile is left out."""
        with self._reading:
            return dict(self._keyed_hits(ranking, [], source))

    def _prepared(self, request: SearchRequest
                  ) -> tuple[list[Retriever], np.ndarray | None, Query] | None:
        """The retrievers, the rowids the filter allows, and the query with its vector; None
        when the filter allows nothing. The model runs here, outside the lock, so concurrent
        searches share its batches."""
        chosen = self._chosen(request.retrievers)
        allowed = self._store.filtered_rowids(request.where) if request.where else None
        if allowed is not None and allowed.size == 0:
            return None
        embed = request.embed_query or self._embed_query
        vector = (embed(request.text) if request.rescore is not None
                  or any(r.reads_vector for r in chosen) else None)
        return chosen, allowed, Query(request.text, vector)

    def _ranked(self, request: SearchRequest, chosen: list[Retriever],
                allowed: np.ndarray | None, query: Query
                ) -> tuple[Ranking, list[RankedList], str]:
        n = max(request.k, self._settings.candidates)
        lists = [retriever.retrieve(query, n, allowed) for retriever in chosen]
        if request.rescore is not None and query.vector is not None:
            lists = self._rescored(request.rescore, query.vector, chosen, lists, request.depth)
        fused = self._fuse(query, chosen, lists) if len(lists) > 1 else lists[0].ranking
        if request.diversity > 0:
            fused = self._diversify(fused[:n], request.k, request.diversity)
        source = request.retrievers[0] if len(chosen) == 1 else "hybrid"
        return fused, lists, source

    def _chosen(self, names: Sequence[str]) -> list[Retriever]:
        unknown = [name for name in names if name not in self.retrievers]
        if unknown or not names:
            raise QueryError(f"unknown retriever {', '.join(unknown) or '(none)'}; choose from "
                             f"{', '.join(self.retrievers)}")
        return [self.retrievers[name] for name in names]

    def _fuse(self, query: Query, chosen: Sequence[Retriever], lists: Sequence[RankedList]
              ) -> Ranking:
        settings = self._settings
        code_share = 0.0
        if settings.fusion == "adaptive":
            keys = list(dict.fromkeys(key for ranked in lists for key, _ in ranked.ranking))
            kinds = self._store.chunk_kinds(keys)
            code_share = sum(1 for kind in kinds if kind == "code") / len(kinds) if kinds else 0.0
        return fuse(lists, settings.fusion, readable=[r.reads(query) for r in chosen],
                    code_share=code_share, lexical_weight=settings.lexical_weight,
                    rrf_k=settings.rrf_k, prose_lexical_weight=self._tuning().lexical_weight,
                    graph_weight=settings.graph_weight, graph_anchor=settings.graph_anchor)

    def _rescored(self, scorer: VectorScorer, vector: np.ndarray, chosen: Sequence[Retriever],
                  lists: list[RankedList], depth: int) -> list[RankedList]:
        targets = {r.name for r in chosen if r.reads_vector} or {r.name for r in chosen}
        return [replace(ranked, ranking=self._rescore(scorer, vector, ranked.ranking, depth))
                if ranked.retriever in targets else ranked for ranked in lists]

    def _rescore(self, scorer: VectorScorer, vector: np.ndarray, ranking: Ranking, depth: int
                 ) -> Ranking:
        head, rest = ranking[:depth], ranking[depth:]
        keys = np.array([key for key, _ in head], dtype=np.int64)
        if not keys.size:
            return ranking
        scores = scorer.score_vectors(vector, self._vectors(keys))
        order = np.argsort(-scores, kind="stable")
        return [(int(keys[i]), float(scores[i])) for i in order] + rest

    def _diversify(self, ranking: Ranking, k: int, diversity: float) -> Ranking:
        keys = np.array([key for key, _ in ranking], dtype=np.int64)
        return mmr(ranking, self._vectors(keys), k, diversity)

    def _vectors(self, keys: np.ndarray) -> np.ndarray:
        """The chunks' vectors from an index in memory where one holds them all, else from the
        store (a read of the SQLite file costs milliseconds per search)."""
        for retriever in self.retrievers.values():
            if isinstance(retriever, KeepsVectors):
                found = retriever.stored_vectors(keys)
                if found is not None:
                    return found
        return self._store.vectors_by_rowid(keys, self._dim)

    def _hits(self, ranking: Ranking, lists: Sequence[RankedList], source: str) -> list[Hit]:
        return [hit for _, hit in self._keyed_hits(ranking, lists, source)]

    def _keyed_hits(self, ranking: Ranking, lists: Sequence[RankedList], source: str
                    ) -> list[tuple[int, Hit]]:
        rows = self._store.chunks([key for key, _ in ranking])
        positions = {ranked.retriever: {key: (rank, score) for rank, (key, score)
                                        in enumerate(ranked.ranking, start=1)}
                     for ranked in lists}
        hits = []
        for key, score in ranking:
            stored = rows.get(key)
            if stored is None:
                continue  # removed between the two reads
            seen = {name: p[key] for name, p in positions.items() if key in p}
            hits.append((key, Hit(chunk=stored.chunk, score=score, source=source,
                                  path=stored.path, title=stored.title, doc_key=stored.doc_key,
                                  scores={n: s for n, (_, s) in seen.items()},
                                  ranks={n: r for n, (r, _) in seen.items()})))
        return hits


def search_request(settings: RetrieveConfig, query: str, k: int | None,
                   mode: SearchMode | None, where: Filter | Sequence[str] | None,
                   diversity: float | None, retrievers: Sequence[str] | None, rerank: str
                   ) -> SearchRequest:
    """The search ``KnowledgeBase.search`` was asked for, defaults filled in and checked."""
    k = settings.k if k is None else k
    mode = mode or settings.mode
    diversity = settings.diversity if diversity is None else diversity
    check_request(query, k, mode, diversity)
    depth = max(k, settings.rerank_depth) if rerank else k
    conditions = where if isinstance(where, Filter) else parse_where(where or ())
    return SearchRequest(query, tuple(retrievers or MODES[mode]), k, depth,
                         conditions, diversity)


def check_request(query: str, k: int, mode: str, diversity: float) -> None:
    if not query or not query.strip():
        raise QueryError("the query is empty; pass some text to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query has {len(query):,} characters; the limit is "
                         f"{MAX_QUERY_CHARS:,}. Shorten it or search a key passage")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k={k} is out of range; choose 1..{MAX_K}")
    if mode not in SEARCH_MODES:
        raise QueryError(f"unknown mode {mode!r}; choose from {', '.join(SEARCH_MODES)}")
    if not 0.0 <= diversity <= 1.0:
        raise QueryError(f"diversity={diversity} is out of range; choose 0..1 (0 = off)")
