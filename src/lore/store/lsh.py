"""Random-hyperplane LSH: one sign bit per random direction, Hamming shortlist, exact re-score.

Each vector is kept as ``nbits`` bits, bit ``i`` telling on which side of random hyperplane
``i`` it lies; two vectors differ in a bit with probability ``angle / pi``, so the Hamming
distance estimates their angle (Charikar, "Similarity estimation techniques from rounding
algorithms", STOC 2002). No training: an index of any size is ready at once. A search ranks all
codes by Hamming distance to the query's code, takes the nearest ``k * rescore`` (at least
``SHORTLIST_MIN``) and, with a ``rescore_source`` attached, re-ranks them by exact inner
product. Without a source the scores are the angle estimate ``cos(pi * hamming / nbits)``.

The scan is linear: at a million vectors LSH is far faster than exact search but several times
slower than HNSW and IVF-PQ at the same recall, so ``auto`` never picks it. Its merits are no
training, quick builds and a small fraction of float32's memory.
``python benchmarks/ann_family.py`` measures all four kinds (docs/vector-indexes.md).

Codes are a numpy ``uint8`` matrix, rows sorted by key (inserts and deletes copy it: O(n) per
batch); the Hamming top-k is faiss's ``knn_hamming``, much faster than numpy's
``bitwise_count`` here (docs/vector-indexes.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lore.errors import ConfigError, StoreError
from lore.store.flat import (
    Keys,
    Scores,
    check_batch,
    check_k,
    check_keys,
    check_query,
    load_array,
    param_int,
    read_params,
    save_array,
    unique_last,
    write_params,
)
from lore.store.protocol import VectorSource
from lore.store.rescore import (
    check_non_negative,
    empty_hits,
    load_faiss,
    locate,
    one_faiss_thread,
    rescore_exactly,
    shortlist_size,
)

BITS_PER_DIM = 2
"""Code length ``nbits = BITS_PER_DIM * dim`` rounded up to 64: 768 bits (96 bytes) for 384-d,
16x smaller than float32. Two bits a dimension reach recall@10 of 0.98 or more with the default
shortlist at 50k and at 1M vectors; twice as many gain little for twice the memory and scan
time (``python benchmarks/ann_family.py``; docs/vector-indexes.md)."""
RESCORE = 20
"""The shortlist re-scored exactly is ``k * RESCORE`` codes long (at least ``SHORTLIST_MIN``):
200 for k=10. A longer one gains a little recall, but every re-scored row is read from SQLite
(``SqliteStore.vectors_by_rowid``), whose cost grows with the shortlist
(``python benchmarks/ann_family.py``; docs/vector-indexes.md)."""
SHORTLIST_MIN = 200
SEED = 0


class LshIndex:
    """Approximate inner-product search over int64 keys (>= 0) on sign bits, re-scored exactly.

    Attach ``rescore_source`` (keys -> float32 rows; ``VectorFeed`` attaches the store) for
    exact scores; it is not saved. Writers must not overlap anything; searches may overlap.

    Example::

        index = LshIndex(dim=3)
        index.add(np.array([7, 8]), np.eye(3, dtype=np.float32)[:2])
        keys, scores = index.search(np.array([1, 0, 0], np.float32), k=1)
        assert keys.tolist() == [7]
    """

    kind = "lsh"

    def __init__(self, dim: int, nbits: int | None = None, rescore: int = RESCORE,
                 seed: int = SEED, rescore_source: VectorSource | None = None) -> None:
        if dim <= 0:
            raise ConfigError(f"vector dimension must be positive, got {dim}")
        nbits = 64 * math.ceil(BITS_PER_DIM * dim / 64) if nbits is None else nbits
        if nbits <= 0 or nbits % 64 or rescore <= 0:
            raise ConfigError(f"nbits must be a positive multiple of 64 and rescore positive, "
                              f"got {nbits} and {rescore}")
        self.dim = dim
        self.nbits = nbits
        self.rescore = rescore
        self.seed = seed
        self.rescore_source = rescore_source
        self._planes = np.random.default_rng(seed).standard_normal((nbits, dim)).astype(
            np.float32)
        self._keys = np.empty(0, dtype=np.int64)
        self._codes = np.empty((0, nbits // 8), dtype=np.uint8)
        """One row of packed sign bits per key, in the order of the sorted ``_keys``."""

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        """Bytes of the data held in memory: codes, keys and the hyperplanes."""
        return int(self._codes.nbytes + self._keys.nbytes + self._planes.nbytes)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Packed sign bits of ``vectors @ planes.T``: ``(n, nbits / 8)`` uint8."""
        return np.packbits(np.asarray(vectors, dtype=np.float32) @ self._planes.T > 0, axis=1)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` under ``keys``; a key already present gets its vector replaced."""
        keys, vectors = unique_last(*check_batch(keys, vectors, self.dim))
        if not len(keys):
            return
        check_non_negative(keys, "LSH")
        codes = self.encode(vectors)
        positions, present = locate(self._keys, keys)
        if present.any():
            if not self._codes.flags.writeable:  # a memory map: copy before the first change
                self._codes = np.array(self._codes)
            self._codes[positions[present]] = codes[present]
        new = ~present
        order = np.argsort(keys[new], kind="stable")
        at = positions[new][order]
        self._keys = np.insert(self._keys, at, keys[new][order])
        self._codes = np.insert(self._codes, at, codes[new][order], axis=0)

    def remove(self, keys: np.ndarray) -> None:
        """Drop ``keys``; keys not in the index are ignored."""
        wanted = check_keys(keys)
        positions, present = locate(self._keys, wanted)
        if present.any():
            doomed = np.unique(positions[present])
            self._keys = np.delete(self._keys, doomed)
            self._codes = np.delete(self._codes, doomed, axis=0)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               rescore: int | None = None) -> tuple[Keys, Scores]:
        """The (approximately) ``k`` best keys for ``query`` by inner product, best first.

        Args:
            query: ``(dim,)`` float32 vector.
            k: how many hits at most.
            allowed: when given, only these keys may be returned.
            rescore: shortlist factor for this search (default ``self.rescore``).

        Returns:
            ``(keys, scores)``: exact inner products with a ``rescore_source``, angle
            estimates from the Hamming distance without one.
        """
        q = check_query(query, self.dim)
        check_k(k)
        rows: np.ndarray | None = None
        if allowed is not None:
            positions, present = locate(self._keys, np.unique(check_keys(allowed)))
            rows = positions[present]
        k = min(k, len(self) if rows is None else len(rows))
        if k == 0:
            return empty_hits()
        source = self.rescore_source
        size = k if source is None else shortlist_size(
            k, self.rescore if rescore is None else rescore, SHORTLIST_MIN)
        if source is not None and rows is not None and len(rows) <= size:
            return rescore_exactly(source, self._keys[rows], q, k)
        codes = self._codes if rows is None else self._codes[rows]
        found, distances = self._hamming(self.encode(q[None]), codes, size)
        if rows is not None:
            found = rows[found]
        keys = self._keys[found]
        if source is None:
            return keys[:k], np.cos(np.pi * distances[:k] / self.nbits).astype(np.float32)
        return rescore_exactly(source, keys, q, k)

    def save(self, directory: Path) -> None:
        """Write ``params.json``, ``keys.npy``, ``codes.npy`` and ``planes.npy``."""
        directory.mkdir(parents=True, exist_ok=True)
        save_array(directory / "keys.npy", self._keys)
        save_array(directory / "codes.npy", self._codes)
        save_array(directory / "planes.npy", self._planes)
        write_params(directory, {"kind": self.kind, "dim": self.dim, "count": len(self),
                                 "nbits": self.nbits, "rescore": self.rescore,
                                 "seed": self.seed})

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> LshIndex:
        """Read an index written by ``save``; attach ``rescore_source`` again afterwards.

        Args:
            directory: the folder ``save`` wrote.
            mmap: map ``codes.npy`` read-only; the first change copies it (numpy's insert and
                delete always make a new array).

        Raises:
            StoreError: a file is missing, truncated or inconsistent; rebuild the index.
        """
        params = read_params(directory, cls.kind)
        ints = {name: param_int(params, name, directory, minimum=1)
                for name in ("dim", "nbits", "rescore")}
        count, seed = param_int(params, "count", directory), param_int(params, "seed", directory)
        if ints["nbits"] % 64:
            raise StoreError(f"{directory}: nbits {ints['nbits']} is not a multiple of 64; "
                             "rebuild the index")
        index = cls(ints["dim"], ints["nbits"], ints["rescore"], seed)
        index._planes = load_array(directory / "planes.npy", (index.nbits, index.dim),
                                   np.float32, mmap=False)
        index._keys = load_array(directory / "keys.npy", (count,), np.int64, mmap=False)
        index._codes = load_array(directory / "codes.npy", (count, index.nbits // 8), np.uint8,
                                  mmap=mmap)
        if count > 1 and not bool(np.all(np.diff(index._keys) > 0)):
            raise StoreError(f"{directory}: keys.npy is not sorted and unique; rebuild the index")
        return index

    def _hamming(self, code: np.ndarray, codes: np.ndarray,
                 size: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the ``size`` codes nearest ``code`` in Hamming distance, and the distances."""
        faiss = load_faiss()
        size = min(size, len(codes))
        with one_faiss_thread(faiss):
            distances, rows = faiss.knn_hamming(code, np.ascontiguousarray(codes), size)
        return rows[0].astype(np.int64), distances[0].astype(np.float32)
