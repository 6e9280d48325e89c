from __future__ import annotations

from pathlib import Path

import pytest

import lore
from lore.retrieve.protocol import Query
from lore.retrieve.tuning import Tuning
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


def test_a_repeated_query_term_counts_again_only_when_tuned_to(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "bread.txt").write_text("Sourdough bread rises slowly in a warm kitchen while "
                                      "the oven heats and the baker waits for the crust.\n")
    (folder / "ice.txt").write_text("Glaciers carve valleys.\n")
    (folder / "other.txt").write_text("The compiler inlines small functions.\n")
    query = "bread bread bread glaciers"
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([folder])
        once = kb.search(query, k=2, mode="lexical", rerank="")
        kb.tune(Tuning(query_repeats=True))
        repeated = kb.search(query, k=2, mode="lexical", rerank="")
    assert [Path(h.path).name for h in once] == ["ice.txt", "bread.txt"]  # the shorter wins
    assert [Path(h.path).name for h in repeated] == ["bread.txt", "ice.txt"]
