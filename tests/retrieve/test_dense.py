from __future__ import annotations

from pathlib import Path

import pytest

from lore.errors import QueryError
from lore.retrieve.protocol import Query
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
