"""The contract every ``lore.retrieve.protocol.Retriever`` keeps, as tests to inherit.

A backend's test module subclasses ``RetrieverContract`` and provides a ``build`` fixture:
a callable that indexes some texts (one chunk each) and returns a ``Built``.

Example::

    class TestLexicalRetriever(RetrieverContract):
        @pytest.fixture
        def build(self, tmp_path: Path) -> Build:
            return lambda texts: build_over_knowledge_base(tmp_path, texts, "lexical")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lore.retrieve.protocol import Query, Retriever

TEXTS = [
    "Zebras graze on the open savanna grass at dawn.",
    "The quantum computer factors integers with qubits.",
    "Sourdough bread rises slowly in a warm kitchen.",
    "Glaciers carve valleys as they move downhill.",
    "The compiler inlines small functions to save calls.",
    "Volcanoes erupt when magma pressure builds up.",
]


@dataclass(frozen=True)
class Built:
    """A retriever over indexed texts."""

    retriever: Retriever
    rowids: Mapping[str, int]
    """Each indexed text's chunk rowid."""
    query: Callable[[str], Query]
    """Turns text into the ``Query`` the retriever reads (embedded when it reads vectors)."""


Build = Callable[[Sequence[str]], Built]


class RetrieverContract:
    """Tests every retriever must pass. Subclasses provide the ``build`` fixture."""

    def test_ranks_the_matching_chunk_first(self, build: Build) -> None:
        built = build(TEXTS)
        ranked = built.retriever.retrieve(built.query("quantum qubits integers"), 3, None)
        assert ranked.ranking[0][0] == built.rowids[TEXTS[1]]
        assert ranked.retriever == built.retriever.name

    def test_returns_at_most_n_distinct_rowids_best_first(self, build: Build) -> None:
        built = build(TEXTS)
        for n in (1, 2, len(TEXTS) + 5):
            ranking = built.retriever.retrieve(built.query("the savanna bread"), n, None).ranking
            keys = [key for key, _ in ranking]
            scores = [score for _, score in ranking]
            assert len(ranking) <= n
            assert len(set(keys)) == len(keys)
            assert set(keys) <= set(built.rowids.values())
            assert scores == sorted(scores, reverse=True)

    def test_keeps_to_the_allowed_rowids(self, build: Build) -> None:
        built = build(TEXTS)
        allowed = np.array(sorted(built.rowids[t] for t in TEXTS[3:]), dtype=np.int64)
        ranking = built.retriever.retrieve(built.query("quantum qubits"), 10, allowed).ranking
        assert {key for key, _ in ranking} <= set(allowed.tolist())

    def test_an_empty_allowed_set_finds_nothing(self, build: Build) -> None:
        built = build(TEXTS)
        empty = np.zeros(0, dtype=np.int64)
        assert built.retriever.retrieve(built.query("quantum"), 5, empty).ranking == []

    def test_an_empty_index_finds_nothing(self, build: Build) -> None:
        built = build([])
        assert built.retriever.retrieve(built.query("anything at all"), 5, None).ranking == []

    def test_declares_what_it_reads(self, build: Build) -> None:
        built = build(TEXTS[:2])
        assert isinstance(built.retriever.name, str) and built.retriever.name
        assert isinstance(built.retriever.reads_vector, bool)
        assert built.retriever.reads(built.query("compiler inlines")) is True

