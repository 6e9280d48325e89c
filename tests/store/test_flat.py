import json
from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError, QueryError, StoreError
from lore.store.flat import ExactIndex, top_k
from lore.testing.index_contract import HoldsVectorsContract, MakeIndex


class TestExactIndex(HoldsVectorsContract):
    @pytest.fixture
    def index(self) -> MakeIndex:
        return ExactIndex


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    normed: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normed


def brute_force(keys: np.ndarray, vectors: np.ndarray, query: np.ndarray,
                k: int) -> tuple[list[int], list[float]]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return keys[order].tolist(), scores[order].tolist()


def test_search_equals_brute_force() -> None:
    vectors = unit_rows(1_000, 24, seed=0)
    keys = np.arange(1_000, dtype=np.int64) * 11 + 5
    index = ExactIndex(24)
    index.add(keys, vectors)
    for query in unit_rows(20, 24, seed=1):
        got, scores = index.search(query, k=10)
        want, want_scores = brute_force(keys, vectors, query, 10)
        assert got.tolist() == want
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_interleaved_adds_and_removes_match_a_model() -> None:
    rng = np.random.default_rng(2)
    index, model = ExactIndex(8), dict[int, np.ndarray]()
    for step in range(60):
        keys = rng.integers(0, 200, size=rng.integers(1, 30))
        if step % 3 == 2:
            index.remove(keys)
            for key in keys.tolist():
                model.pop(key, None)
        else:
            vectors = unit_rows(len(keys), 8, seed=step)
            index.add(keys, vectors)
            model.update(zip(keys.tolist(), vectors, strict=True))
        assert len(index) == len(model)
    assert sorted(index.keys().tolist()) == sorted(model)
    model_keys = np.array(sorted(model), dtype=np.int64)
    model_vectors = np.stack([model[key] for key in model_keys.tolist()])
    np.testing.assert_array_equal(index.vectors_of(model_keys), model_vectors)
    query = unit_rows(1, 8, seed=99)[0]
    assert index.search(query, k=5)[0].tolist() == brute_force(model_keys, model_vectors,
                                                               query, 5)[0]


def test_large_and_small_allowed_sets_agree() -> None:
    vectors = unit_rows(2_000, 16, seed=3)
    keys = np.arange(2_000, dtype=np.int64) * 2
    index = ExactIndex(16)
    index.add(keys, vectors)
    query = unit_rows(1, 16, seed=4)[0]
    for allowed in (keys[:100], keys[::3], keys[:1_500], np.concatenate([keys[:600], [1, 3]])):
        got, _ = index.search(query, k=7, allowed=allowed)
        live = np.isin(keys, allowed)
        assert got.tolist() == brute_force(keys[live], vectors[live], query, 7)[0]


def test_top_k_orders_best_first() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert top_k(scores, 10).tolist() == [1, 3, 2, 4, 0]
    assert top_k(scores, 0).tolist() == []


def test_negative_k_is_a_query_error() -> None:
    index = ExactIndex(4)
    with pytest.raises(QueryError):
        index.search(np.ones(4, dtype=np.float32), k=-1)


def test_non_integer_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="integer"):
        ExactIndex(4).add(np.array([1.5]), np.ones((1, 4), dtype=np.float32))


def test_mmap_load_copies_on_first_change(tmp_path: Path) -> None:
    vectors = unit_rows(100, 8, seed=5)
    index = ExactIndex(8)
    index.add(np.arange(100), vectors)
    index.save(tmp_path)
    mapped = ExactIndex.load(tmp_path, mmap=True)
    assert mapped.search(vectors[3], k=1)[0].tolist() == [3]
    mapped.add(np.array([3, 500]), unit_rows(2, 8, seed=6))
    mapped.remove(np.array([7]))
    assert len(mapped) == 100
    reread = ExactIndex.load(tmp_path)
    assert len(reread) == 100 and reread.search(vectors[3], k=1)[0].tolist() == [3]
    mapped.save(tmp_path)  # over the files it was mapped from
    assert sorted(ExactIndex.load(tmp_path).keys().tolist()) == sorted(mapped.keys().tolist())


@pytest.mark.parametrize("damage", ["missing params", "missing vectors", "truncated vectors",
                                    "wrong count", "repeated keys", "other kind", "bad json"])
def test_damaged_files_raise_store_error(tmp_path: Path, damage: str) -> None:
    index = ExactIndex(8)
    index.add(np.arange(10), unit_rows(10, 8, seed=7))
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    if damage == "missing params":
        (tmp_path / "params.json").unlink()
    elif damage == "missing vectors":
        (tmp_path / "vectors.npy").unlink()
    elif damage == "truncated vectors":
        data = (tmp_path / "vectors.npy").read_bytes()
        (tmp_path / "vectors.npy").write_bytes(data[: len(data) // 2])
    elif damage == "wrong count":
        (tmp_path / "params.json").write_text(json.dumps({**params, "count": 11}))
    elif damage == "repeated keys":
        np.save(tmp_path / "keys.npy", np.zeros(10, dtype=np.int64))
    elif damage == "other kind":
        (tmp_path / "params.json").write_text(json.dumps({**params, "kind": "hnsw"}))
    else:
        (tmp_path / "params.json").write_text("{not json")
    with pytest.raises(StoreError, match="rebuild|not 'exact'"):
        ExactIndex.load(tmp_path)


def test_saved_files_open_with_numpy(tmp_path: Path) -> None:
    vectors = unit_rows(5, 8, seed=8)
    index = ExactIndex(8)
    index.add(np.array([10, 20, 30, 40, 50]), vectors)
    index.save(tmp_path)
    assert np.load(tmp_path / "keys.npy").tolist() == [10, 20, 30, 40, 50]
    np.testing.assert_array_equal(np.load(tmp_path / "vectors.npy"), vectors)
    assert json.loads((tmp_path / "params.json").read_text())["kind"] == "exact"
