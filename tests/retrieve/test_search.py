"""A search over any set of retrievers: filter, fuse, diversify, read the hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lore.config import IndexConfig, RetrieveConfig
from lore.errors import QueryError
from lore.retrieve.protocol import Query, RankedList, Retriever
from lore.retrieve.registry import RetrieverSources, create_retrievers
from lore.retrieve.search import Searcher, SearchRequest
from lore.store.derived import DerivedIndex, TermFeed, VectorFeed
from lore.store.sqlite import SqliteStore
from lore.testing.fakes import HashEmbedder
from lore.testing.retriever_contract import TEXTS
from lore.types import Filter

from .conftest import build_retriever


class FixedRetriever:
    """A third retriever with a ranking fixed in advance (what a graph retriever would add)."""

    name = "fixed"
    reads_vector = False

    def __init__(self, ranking: list[tuple[int, float]]) -> None:
        self.ranking = ranking

    def reads(self, query: Query) -> bool:
        return True

    def retrieve(self, query: Query, n: int, allowed: np.ndarray | None) -> RankedList:
        kept = [(k, s) for k, s in self.ranking if allowed is None or k in set(allowed.tolist())]
        return RankedList(self.name, kept[:n])


@pytest.fixture
def searcher(tmp_path: Path) -> tuple[Searcher, dict[str, int], SqliteStore]:
    lexical, store = build_retriever(tmp_path, "lexical", TEXTS)
    retrievers: dict[str, Retriever] = {"lexical": lexical.retriever,
                                        "fixed": FixedRetriever([(lexical.rowids[TEXTS[2]], 1.0)])}
    found = Searcher(retrievers, store, RetrieveConfig(), HashEmbedder().embed_query, 64)
    return found, dict(lexical.rowids), store


def test_hits_keep_every_retrievers_score_and_rank(
        searcher: tuple[Searcher, dict[str, int], SqliteStore]) -> None:
    search, rowids, store = searcher
    hits = search.search(SearchRequest("sourdough bread kitchen", ("lexical", "fixed"), 3, 3))
    assert hits[0].chunk.text.strip() == TEXTS[2]
    assert hits[0].source == "hybrid"
    assert set(hits[0].scores) == {"lexical", "fixed"} and hits[0].ranks["fixed"] == 1
    store.close()


def test_one_retriever_keeps_its_own_scores(
        searcher: tuple[Searcher, dict[str, int], SqliteStore]) -> None:
    search, rowids, store = searcher
    hits = search.search(SearchRequest("glaciers valleys", ("lexical",), 5, 5))
    assert hits[0].source == "lexical" and hits[0].score == hits[0].scores["lexical"]
    store.close()


def test_a_filter_that_passes_nothing_finds_nothing(
        searcher: tuple[Searcher, dict[str, int], SqliteStore]) -> None:
    search, _, store = searcher
    request = SearchRequest("glaciers", ("lexical", "fixed"), 5, 5,
                            where=Filter(formats=("pdf",)))
    assert search.search(request) == []
    store.close()


def test_an_unknown_retriever_names_the_known_ones(
        searcher: tuple[Searcher, dict[str, int], SqliteStore]) -> None:
    search, _, store = searcher
    with pytest.raises(QueryError, match="unknown retriever graph; choose from lexical, fixed"):
        search.search(SearchRequest("glaciers", ("lexical", "graph"), 5, 5))
    store.close()


class ReversedCosine:
    """A vector scorer that ranks by negative cosine, to show it reorders what it is given."""

    name = "reversed"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def score_vectors(self, query: np.ndarray, passages: np.ndarray) -> np.ndarray:
        self.seen.append(len(passages))
        scores: np.ndarray = -(passages @ query)
        return scores.astype(np.float32)


def test_a_vector_scorer_reorders_the_first_depth_candidates_from_stored_vectors(
        searcher: tuple[Searcher, dict[str, int], SqliteStore]) -> None:
    search, rowids, store = searcher
    keys = np.array([rowids[text] for text in TEXTS], dtype=np.int64)
    plain = search.search(SearchRequest("bread glaciers volcanoes compiler", ("lexical",), 3, 3))
    scorer = ReversedCosine()
    rescored = search.search(SearchRequest("bread glaciers volcanoes compiler", ("lexical",), 3, 3,
                                           rescore=scorer))
    stored = store.vectors_by_rowid(keys, 64)
    assert scorer.seen == [len(plain)] and stored.shape == (len(TEXTS), 64)
    query = HashEmbedder().embed_query("bread glaciers volcanoes compiler")
    row = {int(key): i for i, key in enumerate(keys)}
    order = sorted(plain, key=lambda hit: float(stored[row[rowids[hit.chunk.text.strip()]]]
                                                @ query))
    assert [h.chunk.text for h in rescored] == [h.chunk.text for h in order]
    assert len(plain) == 3 and [h.chunk.text for h in rescored] != [h.chunk.text for h in plain]
    store.close()


def test_in_hybrid_search_a_vector_scorer_rescores_the_dense_list_before_fusion(
        tmp_path: Path) -> None:
    dense, store = build_retriever(tmp_path, "dense", TEXTS)
    lexical = create_retrievers(RetrieverSources(
        store, DerivedIndex(store, None, TermFeed(store)),
        DerivedIndex(store, None, VectorFeed(store, 64, IndexConfig()))), ["lexical"])
    search = Searcher({"lexical": lexical["lexical"], "dense": dense.retriever}, store,
                      RetrieveConfig(), HashEmbedder().embed_query, 64)
    scorer = ReversedCosine()
    query = "bread glaciers volcanoes compiler"
    plain = search.search(SearchRequest(query, ("lexical", "dense"), 6, 6))
    rescored = search.search(SearchRequest(query, ("lexical", "dense"), 6, 6, rescore=scorer))
    assert scorer.seen == [len(TEXTS)]  # the dense list alone, every candidate of it
    by_text = {hit.chunk.text: hit for hit in plain}
    for hit in rescored:
        before = by_text[hit.chunk.text]
        assert hit.scores.get("lexical") == before.scores.get("lexical")
        assert hit.scores["dense"] == pytest.approx(-before.scores["dense"], abs=1e-5)
    store.close()
