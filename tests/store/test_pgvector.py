"""Search inside PostgreSQL on pgvector's HNSW graph (``lore.store.pgvector``), held to exact
search over the same stored vectors, and kept by the knowledge base as a derived index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import lore
from lore.config import IndexConfig, LoreConfig
from lore.errors import ConfigError, StoreError
from lore.store.ann import choose_kind, load_index
from lore.store.derived import DerivedIndex, VectorFeed
from lore.store.flat import ExactIndex
from lore.store.pgvector import PgvectorIndex
from lore.store.postgres import PostgresStore, hnsw_name
from lore.store.protocol import DocumentWrite
from lore.store.sqlite import SqliteStore
from lore.testing import postgres
from lore.testing.store_processes import batch, rowids_by_chunk, write
from lore.types import Filter

DIM = 16
DOCUMENTS, CHUNKS = 150, 8
"""1,200 chunks: enough that the planner prefers the graph to a scan."""


@pytest.fixture(scope="module")
def filled(server: str) -> Iterator[tuple[PostgresStore, ExactIndex]]:
    """A store of random unit vectors, one per chunk, and an exact index over the same."""
    with closing(PostgresStore(postgres.location(server))) as store:
        writes = _stored(store, "v", DOCUMENTS, CHUNKS, _random(7))
        vectors = _random(7)(DOCUMENTS * CHUNKS)
        rowids = rowids_by_chunk(store)
        exact = ExactIndex(DIM)
        exact.add(np.array([rowids[c.id] for w in writes for c in w.chunks]), vectors)
        yield store, exact


def _stored(store: PostgresStore, tag: str, documents: int, chunks: int,
            vectors: Callable[[int], np.ndarray]) -> list[DocumentWrite]:
    """Write ``documents`` of ``chunks`` each, with ``vectors(n)`` as their chunks' vectors."""
    writes = batch(tag, documents, chunks)
    write(store, *writes)
    hashes = [chunk.view_hash for w in writes for chunk in w.chunks]
    store.put_vectors(hashes, vectors(len(hashes)))
    return writes


def _random(seed: int) -> Callable[[int], np.ndarray]:
    return lambda n: _unit(np.random.default_rng(seed).standard_normal((n, DIM)))


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


def _index(store: PostgresStore, **settings: int) -> PgvectorIndex:
    index = PgvectorIndex(DIM, **settings)
    index.attach(store)
    index.sync()
    return index


def _queries(n: int) -> np.ndarray:
    return _unit(np.random.default_rng(11).standard_normal((n, DIM)))


def test_the_graph_finds_what_exact_search_finds(filled: tuple[PostgresStore,
                                                               ExactIndex]) -> None:
    store, exact = filled
    index = _index(store, ef_search=200)
    assert len(index) == len(exact) == DOCUMENTS * CHUNKS
    found = total = 0
    for query in _queries(30):
        keys, scores = index.search(query, k=10)
        truth, true_scores = exact.search(query, k=10)
        assert len(keys) == 10 and np.all(np.diff(scores) <= 1e-6)
        found, total = found + len(set(keys.tolist()) & set(truth.tolist())), total + 10
        assert scores[0] == pytest.approx(true_scores[0], abs=1e-5) or keys[0] != truth[0]
    assert found / total >= 0.95
    assert index.size_bytes() > 0


def test_the_database_plans_the_search_on_the_graph(filled: tuple[PostgresStore,
                                                                  ExactIndex]) -> None:
    store, _ = filled
    _index(store)
    from lore.store import pg_sql as sql

    with store._pool.connection() as conn:  # the plan is the database's, not ours to expose
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + sql.NEAREST.format(dim=DIM),
            {"query": _queries(1)[0], "limit": 10}).fetchall())
    assert hnsw_name(DIM, 16, 64) in plan, plan


def test_a_filter_returns_only_allowed_chunks_best_first(
        filled: tuple[PostgresStore, ExactIndex]) -> None:
    store, exact = filled
    index = _index(store)
    rowids = np.array(sorted(rowids_by_chunk(store).values()))
    for allowed in (rowids[:5], rowids[::3], rowids[: len(rowids) // 2]):
        for query in _queries(5):
            keys, _ = index.search(query, k=10, allowed=allowed)
            truth, _ = exact.search(query, k=10, allowed=allowed)
            assert set(keys.tolist()) <= set(allowed.tolist())
            assert keys.tolist() == truth.tolist()  # few allowed: scored exactly
    assert index.search(_queries(1)[0], k=5, allowed=np.array([], dtype=np.int64))[0].size == 0


def test_an_oversampled_filter_falls_back_to_exact_when_too_few_pass(
        filled: tuple[PostgresStore, ExactIndex], monkeypatch: pytest.MonkeyPatch) -> None:
    store, exact = filled
    monkeypatch.setattr("lore.store.pgvector.EXACT_ALLOWED", 0)
    index = _index(store, ef_search=200)
    rowids = np.array(sorted(rowids_by_chunk(store).values()))
    for allowed in (rowids[::2], rowids[:40]):
        query = _queries(1)[0]
        keys, _ = index.search(query, k=10, allowed=allowed)
        assert set(keys.tolist()) <= set(allowed.tolist()) and len(keys) == 10
        truth, _ = exact.search(query, k=10, allowed=allowed)
        assert len(set(keys.tolist()) & set(truth.tolist())) >= 9


def test_written_and_removed_chunks_are_searched_without_a_rebuild(server: str) -> None:
    with closing(PostgresStore(postgres.location(server))) as store:
        _stored(store, "a", 40, 4, _random(1))
        index = _index(store)
        late = batch("b", 1, 1)[0]
        write(store, late)
        target = _queries(1)[0]
        store.put_vectors([late.chunks[0].view_hash], target[None, :])
        index.sync()
        rowid = rowids_by_chunk(store)[late.chunks[0].id]
        keys, scores = index.search(target, k=1)
        assert keys.tolist() == [rowid] and scores[0] == pytest.approx(1.0, abs=1e-5)
        store.write([], removed_documents=[late.document.id])
        index.sync()
        assert rowid not in index.search(target, k=10)[0].tolist()
        assert len(index) == 160


def test_new_settings_or_a_new_embedder_replace_the_graph(server: str) -> None:
    with closing(PostgresStore(postgres.location(server))) as store:
        writes = _stored(store, "s", 20, 2, lambda n: _unit(np.ones((n, DIM))))
        hashes = [c.view_hash for w in writes for c in w.chunks]
        _index(store)
        _index(store, m=8, ef_construction=32)
        assert _graphs(store) == [hnsw_name(DIM, 8, 32)]
        store.switch_embedder({"embedder": "other"})
        assert _graphs(store) == []
        store.put_vectors(hashes, _unit(np.ones((len(hashes), DIM * 2))))  # another dimension
        index = PgvectorIndex(DIM * 2)
        index.attach(store)
        index.sync()
        assert len(index) == 40 and _graphs(store) == [hnsw_name(DIM * 2, 16, 64)]


def _graphs(store: PostgresStore) -> list[str]:
    from lore.store import pg_sql as sql

    return sorted(str(row[0]) for row in store._read(sql.HNSW_INDEXES, (store.schema,)))


def test_it_saves_its_settings_and_needs_a_postgres_store(tmp_path: Path) -> None:
    index = PgvectorIndex(DIM, m=12, ef_construction=40, ef_search=77)
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert isinstance(loaded, PgvectorIndex)
    assert (loaded.dim, loaded.m, loaded.ef_construction, loaded.ef_search) == (DIM, 12, 40, 77)
    with pytest.raises(StoreError, match="PostgreSQL"):
        loaded.sync()
    with closing(SqliteStore(None)) as local, pytest.raises(StoreError, match="PostgreSQL"):
        loaded.attach(local)
    with pytest.raises(ConfigError, match="ef_construction"):
        PgvectorIndex(DIM, m=16, ef_construction=8)


def test_auto_searches_inside_postgres_where_it_would_build_a_graph() -> None:
    config = IndexConfig(hnsw_threshold=1_000)
    assert choose_kind(500, config, in_database=True) == "exact"
    assert choose_kind(5_000, config, in_database=True) == "pgvector"
    assert choose_kind(900, config, current="pgvector", in_database=True) == "pgvector"
    assert choose_kind(700, config, current="pgvector", in_database=True) == "exact"
    with pytest.raises(ConfigError, match="PostgreSQL"):
        choose_kind(10, IndexConfig(ann="pgvector"))


def test_the_derived_index_builds_the_graph_and_follows_the_store(server: str,
                                                                  tmp_path: Path) -> None:
    with closing(PostgresStore(postgres.location(server))) as store:
        _stored(store, "d", 30, 3, _random(3))
        config = IndexConfig(ann="pgvector", pgvector_ef_search=64)
        derived = DerivedIndex(store, tmp_path / "vectors", VectorFeed(store, DIM, config))
        assert derived.current().kind == "pgvector" and len(derived.current()) == 90
        derived.save()
        again = DerivedIndex(store, tmp_path / "vectors", VectorFeed(store, DIM, config))
        index = again.current()
        assert isinstance(index, PgvectorIndex) and index.ef_search == 64
        _stored(store, "e", 2, 2, lambda n: _unit(np.ones((n, DIM))))
        assert len(again.current()) == 94
        assert len(again.current().search(_unit(np.ones((1, DIM)))[0], k=4)[0]) == 4


def test_a_knowledge_base_on_postgres_searches_the_graph_as_it_searches_exactly(
        server: str, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "sample"
    location = postgres.location(server)
    exact = LoreConfig(kb_dir=tmp_path / "unused", index=IndexConfig(ann="exact"))
    graph = LoreConfig(kb_dir=tmp_path / "unused", index=IndexConfig(ann="pgvector"))
    with lore.open(tmp_path / "graph", model="hash", config=graph, store=location) as kb:
        kb.index([sample])
        assert kb.status().ann == "pgvector"
        searched = [[h.chunk.id for h in kb.search(q, k=5, mode="dense")]
                    for q in ("cache expiry", "retry on 503", "configuration file")]
        filtered = kb.search("cache", k=5, mode="dense", where=Filter(paths=("*.md",)))
        assert filtered and all(h.path.endswith(".md") for h in filtered)
    with lore.open(tmp_path / "graph", model="hash", config=graph, store=location) as kb:
        assert searched == [[h.chunk.id for h in kb.search(q, k=5, mode="dense")]
                            for q in ("cache expiry", "retry on 503", "configuration file")]
    with lore.open(tmp_path / "exact", model="hash", config=exact, store=location) as kb:
        assert searched == [[h.chunk.id for h in kb.search(q, k=5, mode="dense")]
                            for q in ("cache expiry", "retry on 503", "configuration file")]


def test_the_build_asks_for_the_memory_its_graph_needs() -> None:
    from lore.store.pgvector import build_memory

    assert build_memory(0, 384, 16) == "64MB"  # PostgreSQL's default is the floor
    assert build_memory(1_000_000, 384, 16) == "2213MB"  # 1.25 x 1,856 bytes a node
    assert build_memory(10**9, 384, 16) == "16384MB"
