import json
from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError, StoreError
from lore.store.ann import load_index
from lore.store.flat import ExactIndex
from lore.store.ivfpq import (
    RETRAIN_GROWTH,
    IvfPqIndex,
    IvfPqLayout,
    ivfpq_layout,
)
from lore.testing.fakes import MemoryVectorSource
from lore.testing.index_contract import MakeIndex, RescoringIndexContract

N = 4_000
DIM = 64


class TestIvfPqIndex(RescoringIndexContract):
    """Default settings: the contract's small indexes stay below ``MIN_TRAIN`` (exact)."""

    @pytest.fixture
    def bare_index(self) -> MakeIndex:
        return IvfPqIndex


class TestTrainedIvfPqIndex(RescoringIndexContract):
    """Trained from 100 vectors, so most of the contract runs on codes and re-scoring."""

    @pytest.fixture
    def bare_index(self) -> MakeIndex:
        return lambda dim: IvfPqIndex(dim, min_train=100)


def clustered(n: int, dim: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    rows = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim))
    unit: np.ndarray = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return unit


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    keys = np.arange(N, dtype=np.int64) * 13 + 5_000
    return keys, clustered(N, DIM, seed=0)


@pytest.fixture(scope="module")
def built(corpus: tuple[np.ndarray, np.ndarray]
          ) -> tuple[IvfPqIndex, ExactIndex, MemoryVectorSource]:
    keys, vectors = corpus
    source = MemoryVectorSource()
    source.put(keys, vectors)
    index, exact = IvfPqIndex(DIM, min_train=1_000, rescore_source=source), ExactIndex(DIM)
    index.add(keys, vectors)
    exact.add(keys, vectors)
    return index, exact, source


def recall_at_10(index: IvfPqIndex, exact: ExactIndex, queries: np.ndarray,
                 allowed: np.ndarray | None = None, **settings: int) -> float:
    hits = []
    for query in queries:
        found, _ = index.search(query, k=10, allowed=allowed, **settings)
        truth, _ = exact.search(query, k=10, allowed=allowed)
        hits.append(len(np.intersect1d(found, truth)) / 10)
    return float(np.mean(hits))


def test_layout_follows_the_size_rules() -> None:
    assert ivfpq_layout(1_000_000, 384) == IvfPqLayout(nlist=4_000, m=96, nbits=8)
    assert ivfpq_layout(10_000, 384).nlist == 256  # 39 training points per list at most
    assert ivfpq_layout(10_000, 384).nbits == 8
    small = ivfpq_layout(300, 16)
    assert small.nbits < 8 and 1 <= small.nlist <= 300 // 39 and 16 % small.m == 0
    assert ivfpq_layout(50_000, 10).m == 2  # the largest divisor of 10 at most 10 / 4


def test_below_min_train_it_is_exact_and_trains_when_it_gets_there() -> None:
    vectors = clustered(600, 16, seed=1)
    index = IvfPqIndex(16, min_train=500)
    index.add(np.arange(400), vectors[:400])
    assert index.trained_size == 0
    assert index.nbytes >= 400 * 16 * 4  # float32 vectors, searched exactly
    index.add(np.arange(400, 600), vectors[400:])
    assert index.trained_size == 600 and len(index) == 600


def test_recall_at_10_against_exact_search_with_rescoring(
        built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource]) -> None:
    index, exact, _ = built
    queries = clustered(100, DIM, seed=2)
    assert index.trained_size == N
    assert recall_at_10(index, exact, queries) >= 0.9
    assert recall_at_10(index, exact, queries, nprobe=10_000) >= 0.95


def test_rescoring_reads_only_the_shortlist_from_the_source(
        built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource]) -> None:
    index, exact, source = built
    query = clustered(1, DIM, seed=3)[0]
    calls, asked = source.calls, source.keys_asked
    found, scores = index.search(query, k=10, rescore=5)
    assert source.calls == calls + 1 and source.keys_asked - asked <= 100
    np.testing.assert_allclose(scores, exact.vectors_of(found) @ query, atol=1e-5)


def test_without_a_source_scores_are_pq_estimates(
        built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource],
        corpus: tuple[np.ndarray, np.ndarray]) -> None:
    index, exact, source = built
    query = clustered(1, DIM, seed=4)[0]
    index.rescore_source = None
    try:
        found, scores = index.search(query, k=10)
    finally:
        index.rescore_source = source
    true_scores = exact.vectors_of(found) @ query
    assert np.abs(scores - true_scores).max() < 0.2
    assert np.all(np.diff(scores) <= 1e-6)


def test_codes_take_far_less_memory_than_float32(
        built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource]) -> None:
    index, _, _ = built
    raw = N * DIM * 4
    assert index.nbytes < 0.3 * raw  # codes + ids + keys, and centroids sized for 4k vectors
    big = ivfpq_layout(1_000_000, 384)
    assert big.m * big.nbits / 8 + 16 <= 0.15 * 384 * 4  # per vector at the 1M scale


def test_filtered_search_over_a_few_allowed_keys_is_exact(
        built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource],
        corpus: tuple[np.ndarray, np.ndarray]) -> None:
    index, exact, _ = built
    keys, _ = corpus
    allowed = keys[::50]  # 80 keys: fewer than the 100-long shortlist
    for query in clustered(10, DIM, seed=13):
        assert index.search(query, k=10, allowed=allowed)[0].tolist() == \
            exact.search(query, k=10, allowed=allowed)[0].tolist()


def test_filtered_search_over_many_allowed_keys_uses_the_codes(
        built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource],
        corpus: tuple[np.ndarray, np.ndarray]) -> None:
    index, exact, _ = built
    keys, _ = corpus
    allowed = np.random.default_rng(5).choice(keys, size=2_000, replace=False)
    queries = clustered(50, DIM, seed=6)
    for query in queries[:10]:
        found, _ = index.search(query, k=10, allowed=allowed)
        assert len(found) == 10 and set(found.tolist()) <= set(allowed.tolist())
    assert recall_at_10(index, exact, queries, allowed=allowed) >= 0.9


def test_replace_and_remove_after_training(corpus: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = corpus
    source = MemoryVectorSource()
    index = IvfPqIndex(DIM, min_train=1_000, rescore_source=source)
    source.put(keys, vectors)
    index.add(keys, vectors)
    moved = clustered(10, DIM, seed=7)
    source.put(keys[:10], moved)
    index.add(keys[:10], moved)
    index.remove(keys[10:20])
    assert len(index) == N - 10
    for i in range(10):
        found, scores = index.search(moved[i], k=5)
        assert found[0] == keys[i] and scores[0] == pytest.approx(1.0, abs=1e-5)
    found, _ = index.search(vectors[15], k=50)
    assert not np.isin(found, keys[10:20]).any()


def test_save_and_load_a_trained_index(built: tuple[IvfPqIndex, ExactIndex, MemoryVectorSource],
                                       tmp_path: Path) -> None:
    index, _, source = built
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    assert (params["kind"], params["trained_size"], params["count"]) == ("ivfpq", N, N)
    loaded = load_index(tmp_path)
    assert isinstance(loaded, IvfPqIndex) and loaded.rescore_source is None
    loaded.rescore_source = source
    for query in clustered(10, DIM, seed=8):
        assert loaded.search(query, k=10)[0].tolist() == index.search(query, k=10)[0].tolist()
    assert loaded.nbytes == index.nbytes


def test_an_index_grown_past_its_training_is_outgrown() -> None:
    vectors = clustered(200 * (RETRAIN_GROWTH + 1), 8, seed=9)
    index = IvfPqIndex(8, min_train=200)
    index.add(np.arange(200), vectors[:200])
    assert not index.outgrown()
    index.add(np.arange(200, len(vectors)), vectors[200:])
    assert index.outgrown()


def test_bad_settings_and_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        IvfPqIndex(8, nprobe=0)
    index = IvfPqIndex(8, min_train=100)
    index.add(np.arange(100), clustered(100, 8, seed=10))
    with pytest.raises(ConfigError, match="non-negative"):
        index.add(np.array([-1]), clustered(1, 8, seed=11))


@pytest.mark.parametrize("damage", ["missing faiss file", "garbage faiss file", "wrong count",
                                    "unsorted keys"])
def test_damaged_files_raise_store_error(tmp_path: Path, damage: str) -> None:
    index = IvfPqIndex(8, min_train=100)
    index.add(np.arange(200), clustered(200, 8, seed=12))
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    if damage == "missing faiss file":
        (tmp_path / "index.faiss").unlink()
    elif damage == "garbage faiss file":
        (tmp_path / "index.faiss").write_bytes(b"\x00garbage" * 50)
    elif damage == "wrong count":
        (tmp_path / "params.json").write_text(json.dumps({**params, "count": 199}))
        np.save(tmp_path / "keys.npy", np.arange(199))
    else:
        np.save(tmp_path / "keys.npy", np.arange(200)[::-1].copy())
    with pytest.raises(StoreError, match="rebuild"):
        IvfPqIndex.load(tmp_path)
