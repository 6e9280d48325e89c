"""The contract every ``lore.store.protocol.VectorIndex`` keeps, as tests to inherit: exact and
approximate indexes alike, and the re-scoring ones paired with a stand-in for the store.

Example::

    class TestExactIndex(VectorIndexContract):
        @pytest.fixture
        def index(self) -> MakeIndex:
            return ExactIndex
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError, StoreError
from lore.store.protocol import HoldsVectors, Rescoring, VectorIndex
from lore.testing.fakes import MemoryVectorSource

MakeIndex = Callable[[int], VectorIndex]
"""Makes an empty index for vectors of the given dimension."""


class VectorIndexContract:
    """Promises of ``lore.store.protocol.VectorIndex``; subclasses provide an ``index`` fixture
    (a factory taking ``dim``).

    Example::

        class TestExactIndex(VectorIndexContract):
            @pytest.fixture
            def index(self) -> MakeIndex:
                return ExactIndex
    """

    DIM = 16

    def test_empty_index_has_no_hits(self, index: MakeIndex) -> None:
        empty = index(self.DIM)
        keys, scores = empty.search(self.unit(np.ones((1, self.DIM)))[0], k=5)
        assert len(empty) == 0
        assert keys.dtype == np.int64 and scores.dtype == np.float32
        assert keys.shape == scores.shape == (0,)

    def test_kind_and_dim(self, index: MakeIndex) -> None:
        made = index(self.DIM)
        assert made.dim == self.DIM
        assert made.kind

    def test_each_vector_finds_itself_first(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(200, self.DIM, seed=1)
        made = index(self.DIM)
        made.add(keys, vectors)
        assert len(made) == 200
        for i in range(0, 200, 7):
            found, scores = made.search(vectors[i], k=3)
            assert found[0] == keys[i]
            assert scores[0] == pytest.approx(1.0, abs=1e-5)

    def test_scores_are_inner_products_best_first(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(100, self.DIM, seed=2)
        made = index(self.DIM)
        made.add(keys, vectors)
        query = self.unit(np.random.default_rng(3).standard_normal((1, self.DIM)))[0]
        found, scores = made.search(query, k=10)
        by_key = dict(zip(keys.tolist(), vectors, strict=True))
        expected = [float(by_key[key] @ query) for key in found.tolist()]
        assert scores.tolist() == pytest.approx(expected, abs=1e-5)
        assert np.all(np.diff(scores) <= 1e-6)
        assert len(set(found.tolist())) == len(found)

    def test_add_replaces_an_existing_key(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(50, self.DIM, seed=4)
        made = index(self.DIM)
        made.add(keys, vectors)
        moved = self.unit(np.random.default_rng(5).standard_normal((1, self.DIM)))
        made.add(keys[:1], moved)
        assert len(made) == 50
        found, scores = made.search(moved[0], k=50)
        assert found[0] == keys[0] and scores[0] == pytest.approx(1.0, abs=1e-5)
        assert found.tolist().count(int(keys[0])) == 1
        found, scores = made.search(vectors[0], k=50)
        score_of_key = dict(zip(found.tolist(), scores.tolist(), strict=True))
        assert score_of_key[int(keys[0])] == pytest.approx(float(vectors[0] @ moved[0]), abs=1e-5)

    def test_repeated_key_in_one_batch_keeps_the_last_vector(self, index: MakeIndex) -> None:
        _, vectors = self.corpus(3, self.DIM, seed=6)
        made = index(self.DIM)
        made.add(np.array([9, 9, 10]), vectors)
        assert len(made) == 2
        found, scores = made.search(vectors[1], k=2)
        assert found[0] == 9 and scores[0] == pytest.approx(1.0, abs=1e-5)

    def test_removed_keys_never_come_back(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(300, self.DIM, seed=7)
        made = index(self.DIM)
        made.add(keys, vectors)
        gone = keys[::3]
        made.remove(np.concatenate([gone, [123_456_789]]))  # an unknown key is ignored
        assert len(made) == 200
        for i in range(0, 300, 5):
            found, _ = made.search(vectors[i], k=20)
            assert not set(found.tolist()) & set(gone.tolist())
            if i % 3:
                assert found[0] == keys[i]
        made.remove(gone)
        assert len(made) == 200

    def test_a_removed_key_can_be_added_again(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(20, self.DIM, seed=8)
        made = index(self.DIM)
        made.add(keys, vectors)
        made.remove(keys[:5])
        made.add(keys[:5], vectors[:5])
        assert len(made) == 20
        found, _ = made.search(vectors[2], k=1)
        assert found[0] == keys[2]

    def test_removing_everything_leaves_an_empty_index(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(30, self.DIM, seed=9)
        made = index(self.DIM)
        made.add(keys, vectors)
        made.remove(keys)
        found, _ = made.search(vectors[0], k=5)
        assert len(made) == 0 and len(found) == 0

    def test_filtered_search_returns_only_allowed_keys(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(500, self.DIM, seed=10)
        made = index(self.DIM)
        made.add(keys, vectors)
        made.remove(keys[:10])
        rng = np.random.default_rng(11)
        allowed = np.concatenate([rng.choice(keys, 40, replace=False), keys[:10], [987_654_321]])
        by_key = dict(zip(keys[10:].tolist(), vectors[10:], strict=True))
        live = np.array([key for key in allowed.tolist() if key in by_key])
        for query in self.unit(rng.standard_normal((10, self.DIM))):
            found, _ = made.search(query, k=5, allowed=allowed)
            assert set(found.tolist()) <= set(live.tolist())
            best = sorted(live.tolist(), key=lambda key: -float(by_key[key] @ query))[:5]
            assert found.tolist() == best

    def test_filtered_search_with_no_allowed_key_is_empty(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(50, self.DIM, seed=12)
        made = index(self.DIM)
        made.add(keys, vectors)
        for allowed in (np.array([], dtype=np.int64), np.array([1, 2, 3])):
            found, scores = made.search(vectors[0], k=5, allowed=allowed)
            assert len(found) == len(scores) == 0

    def test_k_larger_than_the_index_returns_everything(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(7, self.DIM, seed=13)
        made = index(self.DIM)
        made.add(keys, vectors)
        found, scores = made.search(vectors[0], k=100)
        assert sorted(found.tolist()) == sorted(keys.tolist())
        assert len(scores) == 7
        found, _ = made.search(vectors[0], k=0)
        assert len(found) == 0

    def test_save_then_load_gives_the_same_answers(self, index: MakeIndex,
                                                   tmp_path: Path) -> None:
        keys, vectors = self.corpus(400, self.DIM, seed=14)
        made = index(self.DIM)
        made.add(keys, vectors)
        made.remove(keys[:4])
        made.save(tmp_path / "index")
        loaded = self.reopen(tmp_path / "index", made)
        assert (loaded.kind, loaded.dim, len(loaded)) == (made.kind, made.dim, len(made))
        allowed = keys[::9]
        for query in self.unit(np.random.default_rng(15).standard_normal((10, self.DIM))):
            for subset in (None, allowed):
                want, want_scores = made.search(query, k=10, allowed=subset)
                got, got_scores = loaded.search(query, k=10, allowed=subset)
                assert got.tolist() == want.tolist()
                assert got_scores.tolist() == pytest.approx(want_scores.tolist(), abs=1e-6)
        loaded.add(keys[:4], vectors[:4])
        assert len(loaded) == 400 and loaded.search(vectors[1], k=1)[0][0] == keys[1]

    def test_wrong_shapes_name_the_expected_dimension(self, index: MakeIndex) -> None:
        made = index(self.DIM)
        with pytest.raises(ConfigError, match=str(self.DIM)):
            made.add(np.array([1]), np.ones((1, self.DIM + 1), dtype=np.float32))
        with pytest.raises(ConfigError, match=str(self.DIM)):
            made.search(np.ones(self.DIM + 1, dtype=np.float32), k=1)
        with pytest.raises(ConfigError):
            made.add(np.array([1, 2]), np.ones((1, self.DIM), dtype=np.float32))


    def reopen(self, directory: Path, saved: VectorIndex) -> VectorIndex:
        """Load what ``saved`` wrote to ``directory`` (``load_index``); a contract whose
        indexes lean on something outside their files hands it back here."""
        from lore.store.ann import load_index

        return load_index(directory)

    @staticmethod
    def unit(matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float32)
        unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return unit


    @staticmethod
    def corpus(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random unit vectors under sparse, large int64 keys (like SQLite rowids)."""
        rng = np.random.default_rng(seed)
        keys = np.sort(rng.choice(10**12, size=n, replace=False)).astype(np.int64)
        return keys, VectorIndexContract.unit(rng.standard_normal((n, dim)))


class StoreBackedIndex:
    """A re-scoring index (``lore.store.protocol.Rescoring``) paired with a
    ``MemoryVectorSource`` standing in for the store.

    ``add`` writes the vectors to the source, then to the index, as lore's store write followed
    by ``VectorFeed.fill`` does; everything else goes straight to the index.

    Example::

        backed = StoreBackedIndex(IvfPqIndex(dim=16, min_train=100))
        backed.add(keys, vectors)        # the source now holds them too
    """

    def __init__(self, index: VectorIndex, source: MemoryVectorSource | None = None) -> None:
        if not isinstance(index, Rescoring):
            raise TypeError(f"{type(index).__name__} does not re-score from a source")
        self.index = index
        self.source = source or MemoryVectorSource()
        index.rescore_source = self.source
        self.kind, self.dim = index.kind, index.dim

    def __len__(self) -> int:
        return len(self.index)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) and np.shape(vectors) == (len(keys), self.dim):
            self.source.put(keys, vectors)
        self.index.add(keys, vectors)

    def remove(self, keys: np.ndarray) -> None:
        self.index.remove(keys)

    def search(self, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(query, k, allowed)

    def save(self, directory: Path) -> None:
        self.index.save(directory)


class RescoringIndexContract(VectorIndexContract):
    """``VectorIndexContract`` for indexes that re-score a shortlist from a ``VectorSource``:
    each index runs paired with an in-memory stand-in for the store (``StoreBackedIndex``).
    Subclasses provide a ``bare_index`` fixture (a factory taking ``dim``).

    Example::

        class TestLshIndex(RescoringIndexContract):
            @pytest.fixture
            def bare_index(self) -> MakeIndex:
                return LshIndex
    """

    @pytest.fixture
    def index(self, bare_index: MakeIndex) -> MakeIndex:
        return lambda dim: StoreBackedIndex(bare_index(dim))

    def reopen(self, directory: Path, saved: VectorIndex) -> VectorIndex:
        """The rescoring source is not saved: hand the loaded index the same one again."""
        loaded = super().reopen(directory, saved)
        return StoreBackedIndex(loaded, saved.source if isinstance(saved, StoreBackedIndex)
                                else None)

    def test_the_source_is_not_saved(self, bare_index: MakeIndex, tmp_path: Path) -> None:
        from lore.store.ann import load_index

        keys, vectors = self.corpus(300, self.DIM, seed=16)
        made = StoreBackedIndex(bare_index(self.DIM))
        made.add(keys, vectors)
        made.save(tmp_path)
        loaded = load_index(tmp_path)
        assert isinstance(loaded, Rescoring) and loaded.rescore_source is None

    def test_without_a_source_hits_are_still_ranked(self, bare_index: MakeIndex) -> None:
        keys, vectors = self.corpus(300, self.DIM, seed=17)
        made = bare_index(self.DIM)
        made.add(keys, vectors)
        for i in range(0, 300, 30):
            found, scores = made.search(vectors[i], k=5)
            assert len(found) == 5 and set(found.tolist()) <= set(keys.tolist())
            assert np.all(np.diff(scores) <= 1e-6) and np.all(np.abs(scores) <= 1 + 1e-5)
            allowed = keys[i:i + 40]
            found, _ = made.search(vectors[i], k=5, allowed=allowed)
            assert len(found) == 5 and set(found.tolist()) <= set(allowed.tolist())


class HoldsVectorsContract(VectorIndexContract):
    """``VectorIndexContract`` plus ``HoldsVectors``: the index gives back, in the order asked,
    the latest vector added under each key, and refuses a key it does not hold."""

    def test_gives_back_the_latest_vector_of_each_key(self, index: MakeIndex) -> None:
        keys, vectors = self.corpus(50, self.DIM, seed=18)
        made = index(self.DIM)
        assert isinstance(made, HoldsVectors)
        made.add(keys, vectors)
        made.add(keys[:1], vectors[1:2])
        made.remove(keys[5:10])
        asked = keys[[3, 0, 40]]
        expected = np.stack([vectors[3], vectors[1], vectors[40]])
        np.testing.assert_allclose(made.vectors_of(asked), expected, atol=1e-6)
        assert made.vectors_of(keys[:0]).shape == (0, self.DIM)
        with pytest.raises(StoreError, match=str(int(keys[5]))):
            made.vectors_of(keys[4:6])
