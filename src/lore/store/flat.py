"""Exact nearest-neighbour search: one contiguous float32 matrix, one inner product per row.

Also home to the small helpers every ``VectorIndex`` backend shares: argument checks, top-k
selection and the ``params.json`` file that names an index's kind on disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lore.errors import ConfigError, QueryError, StoreError

PARAMS_FILE = "params.json"
FORMAT_VERSION = 1

_DICT_LOOKUP_MAX = 256
"""Allowed sets up to this size are mapped to rows through the dict; larger ones vectorised."""
_GATHER_FRACTION = 0.25
"""Below this share of rows allowed, score only the allowed rows; above, score all and pick."""

Keys = np.ndarray
Scores = np.ndarray


class ExactIndex:
    """Exact inner-product search over int64 keys; the reference every ANN backend is held to.

    Rows live in one contiguous float32 matrix that grows by doubling; ``remove`` moves the last
    row into the hole (swap-delete), so every change costs O(changed keys) amortised. A query
    is one single-threaded matrix-vector product plus ``np.argpartition``;
    ``python benchmarks/ann_choice.py`` times it by size (docs/vector-indexes.md).

    Example::

        index = ExactIndex(dim=3)
        index.add(np.array([7, 8]), np.eye(3, dtype=np.float32)[:2])
        keys, scores = index.search(np.array([1, 0, 0], np.float32), k=1)
        assert keys.tolist() == [7]
    """

    kind = "exact"

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ConfigError(f"vector dimension must be positive, got {dim}")
        self.dim = dim
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._keys = np.empty(0, dtype=np.int64)
        self._size = 0
        self._rows: dict[int, int] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._owned = True
        """False while ``_vectors``/``_keys`` are read-only memory maps; copied on first write."""

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` under ``keys``; a key already present gets its vector replaced.

        When ``keys`` repeats a key, its last vector wins.
        """
        keys, vectors = unique_last(*check_batch(keys, vectors, self.dim))
        old_pos, old_rows, new_pos = [], [], []
        for pos, key in enumerate(keys.tolist()):
            row = self._rows.get(key)
            if row is None:
                new_pos.append(pos)
            else:
                old_pos.append(pos)
                old_rows.append(row)
        self._reserve(self._size + len(new_pos))
        if old_rows:
            self._vectors[old_rows] = vectors[old_pos]
        if new_pos:
            start, stop = self._size, self._size + len(new_pos)
            self._vectors[start:stop] = vectors[new_pos]
            self._keys[start:stop] = keys[new_pos]
            self._rows.update(zip(keys[new_pos].tolist(), range(start, stop), strict=True))
            self._size = stop
            self._sorted = None

    def remove(self, keys: np.ndarray) -> None:
        """Drop ``keys``; keys not in the index are ignored."""
        doomed = [key for key in check_keys(keys).tolist() if key in self._rows]
        if not doomed:
            return
        self._reserve(self._size)
        for key in doomed:
            row = self._rows.pop(key, None)
            if row is None:  # repeated in ``keys``
                continue
            last = self._size - 1
            if row != last:
                moved = int(self._keys[last])
                self._vectors[row] = self._vectors[last]
                self._keys[row] = moved
                self._rows[moved] = row
            self._size = last
        self._sorted = None

    def search(self, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[Keys, Scores]:
        """The ``k`` keys with the highest inner product with ``query``, best first.

        Args:
            query: ``(dim,)`` float32 vector.
            k: how many hits at most; fewer when the index (or ``allowed``) holds fewer keys.
            allowed: when given, only these keys may be returned.

        Returns:
            ``(keys, scores)``: int64 and float32 arrays of equal length.
        """
        q = check_query(query, self.dim)
        check_k(k)
        if allowed is None:
            rows = None
            scores = inner(self._vectors[: self._size], q)
        else:
            rows = self.rows_of(allowed)
            if len(rows) < _GATHER_FRACTION * self._size:
                scores = inner(self._vectors[rows], q)
            else:
                scores = inner(self._vectors[: self._size], q)[rows]
        best = top_k(scores, k)
        hit_rows = best if rows is None else rows[best]
        return self._keys[hit_rows], scores[best]

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Sorted, unique rows of those ``keys`` that are in the index."""
        wanted = check_keys(keys)
        if len(wanted) <= _DICT_LOOKUP_MAX:
            found = [row for key in wanted.tolist() if (row := self._rows.get(key)) is not None]
            return np.unique(np.array(found, dtype=np.int64))
        sorted_keys, sorted_rows = self._sorted_lookup()
        pos = np.searchsorted(sorted_keys, wanted).clip(0, max(len(sorted_keys) - 1, 0))
        hit = sorted_keys[pos] == wanted if len(sorted_keys) else np.zeros(len(wanted), bool)
        return np.unique(sorted_rows[pos[hit]])

    def vectors_of(self, keys: np.ndarray) -> np.ndarray:
        """The stored vectors of ``keys`` (all must be present), one row each, in that order."""
        try:
            rows = [self._rows[key] for key in check_keys(keys).tolist()]
        except KeyError as exc:
            raise StoreError(f"key {exc.args[0]} is not in the index") from None
        return self._vectors[rows]

    def keys(self) -> np.ndarray:
        """Every key, in row order."""
        return self._keys[: self._size].copy()

    def save(self, directory: Path) -> None:
        """Write ``params.json``, ``keys.npy`` and ``vectors.npy`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        save_array(directory / "keys.npy", self._keys[: self._size])
        save_array(directory / "vectors.npy", self._vectors[: self._size])
        write_params(directory, {"kind": self.kind, "dim": self.dim, "count": self._size})

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> ExactIndex:
        """Read an index written by ``save``.

        Args:
            directory: the folder ``save`` wrote.
            mmap: map ``vectors.npy`` read-only instead of reading it; the first change copies
                it into memory (copy-on-write), the file is never written through the map.

        Raises:
            StoreError: a file is missing, truncated or inconsistent; rebuild the index.
        """
        params = read_params(directory, cls.kind)
        dim, count = param_int(params, "dim", directory, 1), param_int(params, "count", directory)
        keys = load_array(directory / "keys.npy", (count,), np.int64, mmap=False)
        vectors = load_array(directory / "vectors.npy", (count, dim), np.float32, mmap=mmap)
        index = cls(dim)
        index._rows = dict(zip(keys.tolist(), range(count), strict=True))
        if len(index._rows) != count:
            raise StoreError(f"{directory}: keys.npy repeats keys; rebuild the index")
        index._keys, index._vectors, index._size = keys, vectors, count
        index._owned = not mmap
        return index

    def _reserve(self, needed: int) -> None:
        capacity = len(self._keys)
        if self._owned and needed <= capacity:
            return
        new_capacity = max(needed, 2 * capacity, 16) if needed > capacity else capacity
        vectors = np.empty((new_capacity, self.dim), dtype=np.float32)
        keys = np.empty(new_capacity, dtype=np.int64)
        vectors[: self._size] = self._vectors[: self._size]
        keys[: self._size] = self._keys[: self._size]
        self._vectors, self._keys, self._owned = vectors, keys, True

    def _sorted_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            order = np.argsort(self._keys[: self._size], kind="stable")
            self._sorted = (self._keys[order], order.astype(np.int64))
        return self._sorted


def inner(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``matrix @ q`` on one thread, by ``np.vecdot`` (``np.einsum`` before numpy 2) not BLAS.

    A BLAS matrix-vector product spreads over every core and, when the other cores are busy
    (the embedder, another search), waits for them and takes many times as long as one core.
    ``vecdot`` stays on one core and is unaffected, and from about 10k rows on it is also
    faster than single-threaded BLAS. ``python benchmarks/ann_choice.py`` times all three
    (docs/vector-indexes.md).
    """
    scores: np.ndarray = _VECDOT(matrix, q) if _VECDOT is not None else np.einsum(
        "ij,j->i", matrix, q)
    return scores


_VECDOT: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = getattr(np, "vecdot", None)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores``, highest first (``np.argpartition``, then sort)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def check_keys(keys: np.ndarray) -> np.ndarray:
    """``keys`` as a 1-D int64 array; ConfigError for anything that is not integer."""
    array = np.asarray(keys)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ConfigError(f"keys must be a 1-D integer array, got {array.dtype} {array.shape}")
    return array.astype(np.int64, copy=False)


def check_batch(keys: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(keys, vectors)``: int64 ``(n,)`` and C-contiguous float32 ``(n, dim)``."""
    keys = check_keys(keys)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape != (len(keys), dim):
        raise ConfigError(f"vectors have shape {matrix.shape}, expected ({len(keys)}, {dim}): "
                          f"one row of dimension {dim} per key")
    if not np.isfinite(matrix).all():
        raise ConfigError("vectors contain NaN or infinity")
    return keys, matrix


def check_query(query: np.ndarray, dim: int) -> np.ndarray:
    """``query`` as a float32 ``(dim,)`` vector; ConfigError naming the expected shape."""
    q = np.asarray(query, dtype=np.float32)
    if q.shape != (dim,):
        raise ConfigError(f"query has shape {q.shape}, expected ({dim},): the index holds "
                          f"{dim}-dimensional vectors; embed with the model that built it")
    return q


def check_k(k: int) -> None:
    if k < 0:
        raise QueryError(f"k must be zero or more, got {k}")


def unique_last(keys: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated keys, keeping each key's last row (a later add replaces an earlier one)."""
    positions = {key: pos for pos, key in enumerate(keys.tolist())}
    if len(positions) == len(keys):
        return keys, vectors
    keep = np.fromiter(positions.values(), dtype=np.int64, count=len(positions))
    return keys[keep], vectors[keep]


def write_params(directory: Path, params: Mapping[str, Any]) -> None:
    """Write ``params.json`` last and atomically: a folder with it is a complete index."""
    record = {"format_version": FORMAT_VERSION, **params}
    temp = directory / (PARAMS_FILE + ".tmp")
    temp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temp, directory / PARAMS_FILE)


def read_params(directory: Path, kind: str | None = None) -> dict[str, Any]:
    """The parsed ``params.json`` of ``directory``; StoreError (rebuild) when absent or bad."""
    path = directory / PARAMS_FILE
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no vector index at {directory} ({PARAMS_FILE} is missing); "
                         "rebuild it from the store") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is unreadable ({exc}); rebuild the index") from None
    if not isinstance(params, dict) or not isinstance(params.get("kind"), str):
        raise StoreError(f"{path} does not name an index kind; rebuild the index")
    if params.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"{path} has format_version {params.get('format_version')!r}, this lore "
                         f"reads {FORMAT_VERSION}; rebuild the index")
    if kind is not None and params["kind"] != kind:
        raise StoreError(f"{path} holds a {params['kind']!r} index, not {kind!r}")
    return params


def param_int(params: Mapping[str, Any], name: str, directory: Path, minimum: int = 0) -> int:
    """The integer setting ``name`` of ``params.json``; StoreError when absent or below minimum."""
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise StoreError(f"{directory / PARAMS_FILE}: {name} is {value!r}, expected an integer "
                         f">= {minimum}; rebuild the index")
    return value


def save_array(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file, so a reader mapping the old file keeps it intact."""
    temp = path.with_name(path.name + ".tmp")
    with temp.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(temp, path)


def load_array(path: Path, shape: tuple[int, ...], dtype: type[np.generic],
               mmap: bool) -> np.ndarray:
    """``np.load`` checked against the expected shape and dtype; StoreError when off."""
    try:
        array: np.ndarray = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise StoreError(f"{path} is missing; rebuild the index") from None
    except (OSError, ValueError, EOFError) as exc:
        raise StoreError(f"{path} is unreadable ({exc}); rebuild the index") from None
    if array.shape != shape or array.dtype != dtype:
        raise StoreError(f"{path} holds {array.dtype} {array.shape}, expected "
                         f"{np.dtype(dtype)} {shape}; rebuild the index")
    return array
