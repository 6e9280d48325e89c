import json
from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError, StoreError
from lore.store.ann import load_index
from lore.store.flat import ExactIndex
from lore.store.lsh import LshIndex
from lore.testing.fakes import MemoryVectorSource
from lore.testing.index_contract import MakeIndex, RescoringIndexContract

N = 4_000
DIM = 64


class TestLshIndex(RescoringIndexContract):
    @pytest.fixture
    def bare_index(self) -> MakeIndex:
        return LshIndex


def clustered(n: int, dim: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    rows = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim))
    unit: np.ndarray = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return unit


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    keys = np.arange(N, dtype=np.int64) * 3 + 77
    return keys, clustered(N, DIM, seed=0)


@pytest.fixture(scope="module")
def built(corpus: tuple[np.ndarray, np.ndarray]) -> tuple[LshIndex, ExactIndex, MemoryVectorSource]:
    keys, vectors = corpus
    source = MemoryVectorSource()
    source.put(keys, vectors)
    index, exact = LshIndex(DIM, rescore_source=source), ExactIndex(DIM)
    index.add(keys, vectors)
    exact.add(keys, vectors)
    return index, exact, source


def recall_at_10(index: LshIndex, exact: ExactIndex, queries: np.ndarray,
                 allowed: np.ndarray | None = None, rescore: int | None = None) -> float:
    hits = []
    for query in queries:
        found, _ = index.search(query, k=10, allowed=allowed, rescore=rescore)
        truth, _ = exact.search(query, k=10, allowed=allowed)
        hits.append(len(np.intersect1d(found, truth)) / 10)
    return float(np.mean(hits))


def test_recall_at_10_against_exact_search_with_rescoring(
        built: tuple[LshIndex, ExactIndex, MemoryVectorSource]) -> None:
    index, exact, _ = built
    queries = clustered(100, DIM, seed=1)
    recalls = [recall_at_10(index, exact, queries, rescore=r) for r in (2, 50, 200)]
    assert recalls == sorted(recalls)  # a longer shortlist never loses recall
    assert recalls[1] >= 0.8 and recalls[2] >= 0.97


def test_rescoring_reads_only_the_shortlist_from_the_source(
        built: tuple[LshIndex, ExactIndex, MemoryVectorSource]) -> None:
    index, exact, source = built
    query = clustered(1, DIM, seed=2)[0]
    calls, asked = source.calls, source.keys_asked
    found, scores = index.search(query, k=10, rescore=30)
    assert source.calls == calls + 1 and source.keys_asked - asked == 300
    np.testing.assert_allclose(scores, exact.vectors_of(found) @ query, atol=1e-5)


def test_without_a_source_scores_estimate_the_angle(
        built: tuple[LshIndex, ExactIndex, MemoryVectorSource],
        corpus: tuple[np.ndarray, np.ndarray]) -> None:
    index, exact, source = built
    keys, vectors = corpus
    index.rescore_source = None
    try:
        found, scores = index.search(vectors[5], k=10)
    finally:
        index.rescore_source = source
    assert found[0] == keys[5] and scores[0] == 1.0
    assert np.abs(scores - exact.vectors_of(found) @ vectors[5]).mean() < 0.15


def test_codes_are_sixteen_times_smaller_than_float32(
        built: tuple[LshIndex, ExactIndex, MemoryVectorSource]) -> None:
    index, _, _ = built
    assert index.nbits == 2 * DIM
    assert index.nbytes - index.nbits * DIM * 4 == N * (DIM * 4 // 16 + 8)


def test_filtered_search_over_many_allowed_keys(
        built: tuple[LshIndex, ExactIndex, MemoryVectorSource],
        corpus: tuple[np.ndarray, np.ndarray]) -> None:
    index, exact, _ = built
    keys, _ = corpus
    allowed = np.random.default_rng(3).choice(keys, size=2_000, replace=False)
    queries = clustered(50, DIM, seed=4)
    for query in queries[:10]:
        found, _ = index.search(query, k=10, allowed=allowed)
        assert len(found) == 10 and set(found.tolist()) <= set(allowed.tolist())
    # 128 bits for 64 dimensions are coarse: a 500-long shortlist of the 2,000 allowed keys
    assert recall_at_10(index, exact, queries, allowed=allowed, rescore=50) >= 0.85


def test_save_and_load_round_trip_with_a_memory_map(
        built: tuple[LshIndex, ExactIndex, MemoryVectorSource],
        corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    index, _, source = built
    keys, vectors = corpus
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    assert (params["kind"], params["nbits"], params["count"]) == ("lsh", 2 * DIM, N)
    loaded = load_index(tmp_path, mmap=True)
    assert isinstance(loaded, LshIndex) and loaded.rescore_source is None
    loaded.rescore_source = source
    for query in clustered(10, DIM, seed=5):
        assert loaded.search(query, k=10)[0].tolist() == index.search(query, k=10)[0].tolist()
    loaded.add(keys[:3], vectors[3:6])  # copies the mapped codes before changing them
    loaded.remove(keys[3:4])
    assert len(loaded) == N - 1 and len(LshIndex.load(tmp_path)) == N


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="multiple of 64"):
        LshIndex(8, nbits=100)
    with pytest.raises(ConfigError, match="non-negative"):
        LshIndex(8).add(np.array([-1]), clustered(1, 8, seed=6))


@pytest.mark.parametrize("damage", ["missing codes", "short codes", "unsorted keys"])
def test_damaged_files_raise_store_error(tmp_path: Path, damage: str) -> None:
    index = LshIndex(8)
    index.add(np.arange(50), clustered(50, 8, seed=7))
    index.save(tmp_path)
    if damage == "missing codes":
        (tmp_path / "codes.npy").unlink()
    elif damage == "short codes":
        np.save(tmp_path / "codes.npy", np.zeros((49, 8), dtype=np.uint8))
    else:
        np.save(tmp_path / "keys.npy", np.arange(50)[::-1].copy())
    with pytest.raises(StoreError, match="rebuild"):
        LshIndex.load(tmp_path)
