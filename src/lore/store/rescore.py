"""What the compressed indexes (``ivfpq``, ``lsh``) share: exact re-scoring of a shortlist from
a ``VectorSource``, keys kept as one sorted int64 array, and faiss loaded on first use.

A compressed index holds codes, not vectors, so its own scores are approximate. It takes a
shortlist of candidates by code, fetches their full vectors from the source (the store) and
ranks them by exact inner product: the scores it returns are then exact, and only a candidate
missing from the shortlist costs recall.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from lore.errors import ConfigError, MissingDependency, StoreError
from lore.store.flat import Keys, Scores, inner, top_k
from lore.store.protocol import VectorSource


def rescore_exactly(source: VectorSource, keys: np.ndarray, query: np.ndarray,
            k: int) -> tuple[Keys, Scores]:
    """The ``k`` best of ``keys`` by exact inner product with ``query``, best first.

    Args:
        source: gives the full vectors of ``keys``.
        keys: the shortlist, int64.
        query: ``(dim,)`` float32.
        k: how many to keep.

    Raises:
        StoreError: the source returned rows of the wrong shape.
    """
    if not len(keys):
        return empty_hits()
    rows = np.asarray(source(keys), dtype=np.float32)
    if rows.shape != (len(keys), len(query)):
        raise StoreError(f"the rescoring source returned {rows.shape} for {len(keys)} keys, "
                         f"expected ({len(keys)}, {len(query)}); rebuild the index")
    scores = inner(rows, query)
    best = top_k(scores, k)
    return keys[best], scores[best]


def shortlist_size(k: int, factor: int, floor: int) -> int:
    """How many candidates to re-score for ``k`` hits: ``k * factor``, at least ``floor``."""
    return max(k * factor, floor, k)


def locate(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, present)``: where each of ``keys`` is or would go in ``sorted_keys``."""
    positions = np.searchsorted(sorted_keys, keys)
    present = np.zeros(len(keys), dtype=bool)
    inside = positions < len(sorted_keys)
    present[inside] = sorted_keys[positions[inside]] == keys[inside]
    return positions, present


def present_keys(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The unique keys of ``keys`` that ``sorted_keys`` holds, sorted."""
    wanted = np.unique(keys)
    found: np.ndarray = wanted[locate(sorted_keys, wanted)[1]]
    return found


def check_non_negative(keys: np.ndarray, kind: str) -> None:
    if len(keys) and int(keys.min()) < 0:
        raise ConfigError(f"{kind} keys must be non-negative (SQLite rowids), "
                          f"got {int(keys.min())}")


def empty_hits() -> tuple[Keys, Scores]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def load_faiss() -> Any:
    """The ``faiss`` module, imported on first use (a slow import); MissingDependency if absent."""
    try:
        return importlib.import_module("faiss")
    except ImportError:
        raise MissingDependency("the ivfpq and lsh indexes need faiss: "
                                "pip install 'lore[ann]'") from None


@contextmanager
def one_faiss_thread(faiss: Any) -> Iterator[None]:
    """Run faiss on one OpenMP thread inside the block, then restore the previous setting.

    Every faiss call of lore's indexes goes through this. A single query gains nothing from a
    thread team, and faiss's threads spin at barriers, which on a busy machine costs far more
    than they bring (docs/vector-indexes.md gives the measurement). OpenMP keeps the setting
    per calling thread, so other threads' faiss work is unaffected.
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
