"""Retrievers over a real store: texts written as files, indexed by the real pipeline with the
shipped hash embedder, read through derived indexes as a knowledge base reads them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from lore.config import IndexConfig, IngestConfig
from lore.pipeline import IndexRun
from lore.retrieve.protocol import Query
from lore.retrieve.registry import RetrieverSources, create_retrievers
from lore.store.derived import ConceptFeed, DerivedIndex, TermFeed, VectorFeed
from lore.store.sqlite import SqliteStore
from lore.testing.fakes import HashEmbedder
from lore.testing.retriever_contract import Build, Built


def build_retriever(root: Path, name: str, texts: Sequence[str], latin_only: bool = False
                    ) -> tuple[Built, SqliteStore]:
    """Index each text as its own file under ``root`` and build retriever ``name`` over it."""
    folder = root / "texts"
    folder.mkdir(parents=True)
    for number, text in enumerate(texts):
        (folder / f"text{number:03d}.txt").write_text(text + "\n")
    store = SqliteStore(root / "lore.db")
    embedder = HashEmbedder()
    IndexRun(store, embedder, IngestConfig()).run([folder])
    sources = RetrieverSources(store, DerivedIndex(store, None, TermFeed(store)),
                               DerivedIndex(store, None,
                                            VectorFeed(store, embedder.dim, IndexConfig())),
                               latin_only=latin_only,
                               concepts=DerivedIndex(store, None, ConceptFeed(store)))
    retriever = create_retrievers(sources, [name])[name]
    stored = store.chunks(list(range(1, 1000)))  # rowids start at 1
    rowids = {row.chunk.text.strip(): rowid for rowid, row in stored.items()}

    def query(text: str) -> Query:
        return Query(text, embedder.embed_query(text) if retriever.reads_vector else None)

    return Built(retriever, rowids, query), store


@pytest.fixture
def stores() -> Iterator[list[SqliteStore]]:
    opened: list[SqliteStore] = []
    yield opened
    for store in opened:
        store.close()


def builder(tmp_path: Path, stores: list[SqliteStore], name: str) -> Build:
    counter = iter(range(1000))

    def build(texts: Sequence[str]) -> Built:
        built, store = build_retriever(tmp_path / f"kb{next(counter)}", name, texts)
        stores.append(store)
        return built

    return build
