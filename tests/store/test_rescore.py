import sys

import numpy as np
import pytest

from lore.errors import MissingDependency, StoreError
from lore.store.rescore import (
    load_faiss,
    locate,
    one_faiss_thread,
    present_keys,
    rescore_exactly,
    shortlist_size,
)
from lore.testing.fakes import MemoryVectorSource


def test_rescore_exactly_ranks_the_shortlist_by_inner_product() -> None:
    source = MemoryVectorSource()
    vectors = np.eye(4, dtype=np.float32)
    source.put(np.array([10, 20, 30, 40]), vectors)
    query = np.array([0.1, 0.9, 0.0, 0.5], dtype=np.float32)
    keys, scores = rescore_exactly(source, np.array([10, 20, 40]), query, k=2)
    assert keys.tolist() == [20, 40] and scores.tolist() == pytest.approx([0.9, 0.5])
    assert source.keys_asked == 3
    assert len(rescore_exactly(source, np.array([], dtype=np.int64), query, k=2)[0]) == 0


def test_a_source_returning_the_wrong_shape_is_a_store_error() -> None:
    def short(keys: np.ndarray) -> np.ndarray:
        return np.ones((len(keys) - 1, 4), dtype=np.float32)

    with pytest.raises(StoreError, match="rebuild"):
        rescore_exactly(short, np.array([1, 2]), np.ones(4, dtype=np.float32), k=1)


def test_sorted_key_lookups() -> None:
    held = np.array([3, 8, 12, 40])
    positions, present = locate(held, np.array([8, 9, 40, 99, 0]))
    assert present.tolist() == [True, False, True, False, False]
    assert positions[present].tolist() == [1, 3]
    assert present_keys(held, np.array([40, 8, 8, 5])).tolist() == [8, 40]
    assert not locate(np.empty(0, dtype=np.int64), np.array([1]))[1].any()


def test_shortlist_size_has_a_floor() -> None:
    assert shortlist_size(10, 10, 100) == 100
    assert shortlist_size(50, 10, 100) == 500
    assert shortlist_size(300, 1, 100) == 300


def test_one_faiss_thread_restores_the_setting() -> None:
    faiss = load_faiss()
    before = faiss.omp_get_max_threads()
    with one_faiss_thread(faiss):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before


def test_without_faiss_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if not installed
    with pytest.raises(MissingDependency, match=r"pip install 'lore\[ann\]'"):
        load_faiss()
