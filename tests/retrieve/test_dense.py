from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lore.errors import QueryError
from lore.retrieve.protocol import KeepsVectors, Query
from lore.store.sqlite import SqliteStore
from lore.testing.retriever_contract import TEXTS, Build, RetrieverContract

from .conftest import build_retriever, builder


class TestDenseRetriever(RetrieverContract):
    @pytest.fixture
    def build(self, tmp_path: Path, stores: list[SqliteStore]) -> Build:
        return builder(tmp_path, stores, "dense")


def test_an_english_only_embedder_does_not_read_chinese(
        tmp_path: Path, stores: list[SqliteStore]) -> None:
    english, store = build_retriever(tmp_path / "en", "dense", TEXTS[:2], latin_only=True)
    multilingual, other = build_retriever(tmp_path / "m", "dense", TEXTS[:2])
    stores += [store, other]
    assert not english.retriever.reads(Query("检索增强生成是什么"))
    assert english.retriever.reads(Query("what is retrieval-augmented generation"))
    assert multilingual.retriever.reads(Query("检索增强生成是什么"))


def test_a_query_without_its_vector_is_refused(tmp_path: Path,
                                               stores: list[SqliteStore]) -> None:
    built, store = build_retriever(tmp_path, "dense", TEXTS[:2])
    stores.append(store)
    with pytest.raises(QueryError, match="embedding"):
        built.retriever.retrieve(Query("qubits"), 3, None)


def test_it_lends_the_vectors_its_index_holds_and_only_those(
        tmp_path: Path, stores: list[SqliteStore]) -> None:
    built, store = build_retriever(tmp_path / "kb", "dense", TEXTS)
    stores.append(store)
    retriever = built.retriever
    assert isinstance(retriever, KeepsVectors)
    keys = np.array([built.rowids[TEXTS[2]], built.rowids[TEXTS[0]]], dtype=np.int64)
    lent = retriever.stored_vectors(keys)
    assert lent is not None
    np.testing.assert_array_equal(lent, store.vectors_by_rowid(keys, lent.shape[1]))
    assert retriever.stored_vectors(np.array([10**9], dtype=np.int64)) is None
