from __future__ import annotations

from pathlib import Path

import pytest

from lore.retrieve.protocol import Query
from lore.store.sqlite import SqliteStore
from lore.testing.retriever_contract import TEXTS, Build, RetrieverContract

from .conftest import builder


class TestLexicalRetriever(RetrieverContract):
    @pytest.fixture
    def build(self, tmp_path: Path, stores: list[SqliteStore]) -> Build:
        return builder(tmp_path, stores, "lexical")


def test_a_short_list_is_complete(tmp_path: Path, stores: list[SqliteStore]) -> None:
    """Fewer hits than asked: every other chunk holds no query term (fusion scores it 0)."""
    built = builder(tmp_path, stores, "lexical")(TEXTS)
    short = built.retriever.retrieve(built.query("glaciers"), 10, None)
    assert [key for key, _ in short.ranking] == [built.rowids[TEXTS[3]]] and short.complete
    full = built.retriever.retrieve(built.query("the"), 1, None)
    assert not full.complete or full.ranking == []


def test_a_query_of_stopwords_finds_nothing(tmp_path: Path, stores: list[SqliteStore]) -> None:
    built = builder(tmp_path, stores, "lexical")(TEXTS)
    assert built.retriever.retrieve(Query("the of and"), 5, None).ranking == []
