"""IVF-PQ: an inverted file of product-quantised codes (faiss ``IndexIVFPQ``), re-scored exactly.

The vectors are clustered into ``nlist`` lists; each vector is kept as its list plus an ``m``-byte
PQ code of its residual: 96 bytes instead of 1,536 for dimension 384 (16x smaller), plus the
8-byte key faiss stores beside each code and 8 bytes of lore's sorted key array. A search scans
the ``nprobe`` lists nearest the query, takes the best ``k * rescore`` codes (at least
``SHORTLIST_MIN``) and, when a ``rescore_source`` is attached, re-ranks them by exact inner
product with their full vectors from the store. Without a source the scores are PQ estimates
and the ranking follows them, which costs recall. Re-scoring is the price of the small index:
reading the shortlist's vectors from SQLite costs more than the scan itself, so where HNSW's
float32 vectors fit in memory HNSW is faster (``IndexConfig.ivfpq_threshold``).
``python benchmarks/ann_family.py`` measures both (docs/vector-indexes.md).


Training needs data: k-means wants about 39 points per centroid, so 256 PQ centroids need ~10k
vectors. Below ``min_train`` vectors the index honestly is an exact index (it keeps the float32
vectors and scans them all, 15 MB at 10k x 384, as fast as ``ExactIndex`` at that size); the add
that brings it to ``min_train`` trains the quantisers on everything held and drops the vectors.
The lists are sized for the collection at training time (``ivfpq_layout``); once it has grown
``RETRAIN_GROWTH``-fold, ``outgrown()`` says so and the derived index is rebuilt. A rebuild from
the store trains on a random sample laid out for the whole collection (``train_for``).

Jegou, Douze & Schmid, "Product quantization for nearest neighbor search", TPAMI 2011.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lore.errors import ConfigError, StoreError
from lore.store.flat import (
    ExactIndex,
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
    present_keys,
    rescore_exactly,
    shortlist_size,
)

MIN_TRAIN = 10_000
"""Vectors held before the quantisers are trained (39 points per each of 256 PQ centroids)."""
NPROBE = 32
"""Lists scanned per query. 32 is the smallest nprobe tried that keeps re-scored recall@10
above 0.95 at both 50k and 1M vectors; 64 gains little at twice the time. Recall is bounded by
the lists probed, not the codes: neither a longer shortlist nor larger codes
(``compression=8``) lift it once re-scored. ``python benchmarks/ann_family.py`` measures
recall and speed over nprobe (docs/vector-indexes.md)."""
RESCORE = 10
"""The shortlist re-scored exactly is ``k * RESCORE`` codes long (at least ``SHORTLIST_MIN``).
100 candidates win back most of the recall the PQ estimates lose, and a longer shortlist adds
nothing (``python benchmarks/ann_family.py``; docs/vector-indexes.md)."""
SHORTLIST_MIN = 100
COMPRESSION = 16
"""Target ratio of float32 bytes to code bytes: ``m = dim / 4`` one-byte codes for 16x (8 gives
``m = dim / 2``)."""
POINTS_PER_CENTROID = 39
"""faiss's minimum for k-means without a warning; fewer and the centroids are poor."""
TRAIN_PER_LIST = 64
"""k-means of the lists runs on a sample of at most this many vectors per list: 256k vectors for
1M, where faiss's default of 256 would cluster all 1M, ~4x the work (it warns below 39)."""
RETRAIN_GROWTH = 4
"""``outgrown()`` once the index holds this many times the vectors it was trained on."""

_FILE = "index.faiss"


@dataclass(frozen=True, slots=True)
class IvfPqLayout:
    """How an IVF-PQ index is shaped for ``n`` training vectors of dimension ``dim``."""

    nlist: int
    """Inverted lists: ``4 * sqrt(n)``, at most ``n / 39``."""
    m: int
    """Sub-quantisers, one code each: the largest divisor of ``dim`` at most
    ``dim * 4 / compression`` (96 for 384-d at 16x)."""
    nbits: int
    """Bits per code: 8, fewer only when ``n`` is too small to train 256 centroids."""


def training_size(n: int, dim: int, compression: int = COMPRESSION) -> int:
    """How many of ``n`` vectors to train an index laid out for ``n`` on: ``TRAIN_PER_LIST``
    a list (k-means samples no more), at least ``MIN_TRAIN``, at most ``n``.

    >>> training_size(1_000_000, 384)
    256000
    """
    return min(n, max(MIN_TRAIN, ivfpq_layout(n, dim, compression).nlist * TRAIN_PER_LIST))


def ivfpq_layout(n: int, dim: int, compression: int = COMPRESSION) -> IvfPqLayout:
    """The layout for ``n`` training vectors: ``IvfPqLayout(1000, 96, 8)`` for 62,500 x 384.

    >>> ivfpq_layout(1_000_000, 384)
    IvfPqLayout(nlist=4000, m=96, nbits=8)
    """
    nlist = max(1, min(round(4 * math.sqrt(n)), n // POINTS_PER_CENTROID))
    target = max(1, dim * 4 // compression)  # code bytes at 8 bits a code
    m = max(d for d in range(1, target + 1) if dim % d == 0)
    nbits = max(1, min(8, int(math.log2(max(n, 1) / POINTS_PER_CENTROID)) if n >= 78 else 1))
    return IvfPqLayout(nlist, m, nbits)


class IvfPqIndex:
    """Approximate inner-product search over int64 keys (>= 0) on PQ codes, re-scored exactly.

    Attach ``rescore_source`` (keys -> float32 rows; ``VectorFeed`` attaches the store) for
    exact scores; it is not saved. ``nprobe`` and ``rescore`` trade speed for recall and can be
    changed per search. Writers must not overlap anything; searches may overlap each other.

    Example::

        index = IvfPqIndex(dim=3, min_train=1_000)
        index.add(np.array([7, 8]), np.eye(3, dtype=np.float32)[:2])
        keys, scores = index.search(np.array([1, 0, 0], np.float32), k=1)
        assert keys.tolist() == [7]      # still below min_train: searched exactly
    """

    kind = "ivfpq"

    def __init__(self, dim: int, nprobe: int = NPROBE, rescore: int = RESCORE,
                 min_train: int = MIN_TRAIN, compression: int = COMPRESSION,
                 rescore_source: VectorSource | None = None) -> None:
        if dim <= 0:
            raise ConfigError(f"vector dimension must be positive, got {dim}")
        if min(nprobe, rescore, min_train, compression) <= 0:
            raise ConfigError("nprobe, rescore, min_train and compression must be positive, got "
                              f"{nprobe}, {rescore}, {min_train}, {compression}")
        self.dim = dim
        self.nprobe = nprobe
        self.rescore = rescore
        self.min_train = min_train
        self.compression = compression
        self.rescore_source = rescore_source
        self.trained_size = 0
        """How many vectors the lists were laid out for: those trained on, or the whole
        collection when trained on a sample of it (``train_for``); 0: not trained, searched
        exactly."""
        self._pending: ExactIndex | None = ExactIndex(dim)
        """The vectors themselves, until there are enough to train on."""
        self._ivf: Any = None
        self._keys = np.empty(0, dtype=np.int64)
        """Sorted keys held by ``_ivf`` (faiss cannot tell cheaply which keys it holds)."""

    def __len__(self) -> int:
        return len(self._pending) if self._pending is not None else len(self._keys)

    @property
    def nbytes(self) -> int:
        """Bytes of the data held in memory: codes, faiss's ids, centroids, codebooks, keys."""
        if self._pending is not None:
            return len(self._pending) * (4 * self.dim + 8)
        ivf = self._ivf
        codebooks = ivf.pq.M * ivf.pq.ksub * ivf.pq.dsub * 4
        return int(len(self) * (ivf.code_size + 8) + ivf.nlist * self.dim * 4 + codebooks
                   + self._keys.nbytes)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` under ``keys``; a key already present gets its vector replaced."""
        keys, vectors = unique_last(*check_batch(keys, vectors, self.dim))
        if not len(keys):
            return
        check_non_negative(keys, "IVF-PQ")
        if self._pending is not None:
            if not len(self._pending) and len(keys) >= self.min_train:
                self._train(keys, vectors)  # a rebuild: no float32 copy held on the way
                return
            self._pending.add(keys, vectors)
            if len(self._pending) >= self.min_train:
                held = self._pending.keys()
                self._train(held, self._pending.vectors_of(held))
            return
        self._drop(keys)
        with one_faiss_thread(load_faiss()):
            self._ivf.add_with_ids(vectors, keys)
        positions = np.searchsorted(self._keys, keys)
        order = np.argsort(keys, kind="stable")
        self._keys = np.insert(self._keys, positions[order], keys[order])

    def train_for(self, keys: np.ndarray, vectors: np.ndarray, expected: int) -> None:
        """Train the quantisers on a sample of a collection of ``expected`` vectors, with its
        lists laid out for that many, and add the sample. The index must hold nothing yet."""
        if len(self) or self.trained_size:
            raise ValueError("train_for needs an empty, untrained index")
        keys, vectors = unique_last(*check_batch(keys, vectors, self.dim))
        check_non_negative(keys, "IVF-PQ")
        self._train(keys, vectors, expected)

    def remove(self, keys: np.ndarray) -> None:
        """Drop ``keys``; keys not in the index are ignored."""
        wanted = check_keys(keys)
        if self._pending is not None:
            self._pending.remove(wanted)
        else:
            self._drop(wanted)

    def outgrown(self) -> bool:
        """True once the index holds ``RETRAIN_GROWTH`` x what it was trained on: rebuild it."""
        return self.trained_size > 0 and len(self) > RETRAIN_GROWTH * self.trained_size

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               nprobe: int | None = None, rescore: int | None = None) -> tuple[Keys, Scores]:
        """The (approximately) ``k`` best keys for ``query`` by inner product, best first.

        Args:
            query: ``(dim,)`` float32 vector.
            k: how many hits at most.
            allowed: when given, only these keys may be returned.
            nprobe: lists to scan for this search (default ``self.nprobe``).
            rescore: shortlist factor for this search (default ``self.rescore``).

        Returns:
            ``(keys, scores)``: exact inner products with a ``rescore_source``, PQ estimates
            without one.
        """
        q = check_query(query, self.dim)
        check_k(k)
        if self._pending is not None:
            return self._pending.search(q, k, allowed)
        k = min(k, len(self))
        if k == 0:
            return empty_hits()
        size = k if self.rescore_source is None else shortlist_size(
            k, self.rescore if rescore is None else rescore, SHORTLIST_MIN)
        probes = min(self.nprobe if nprobe is None else nprobe, self._ivf.nlist)
        if 2 * size >= len(self):  # asked for much of the index: scan every list
            probes = self._ivf.nlist
        if allowed is None:
            keys, scores = self._scan(q, size, probes, None)
        else:
            wanted = present_keys(self._keys, check_keys(allowed))
            if not len(wanted):
                return empty_hits()
            if self.rescore_source is not None and len(wanted) <= size:
                # no more than a shortlist: re-score them all, no scan needed
                return rescore_exactly(self.rescore_source, wanted, q, k)
            keys, scores = self._scan_allowed(q, size, probes, wanted)
        if self.rescore_source is None:
            return keys[:k], scores[:k]
        return rescore_exactly(self.rescore_source, keys, q, k)

    def save(self, directory: Path) -> None:
        """Write ``params.json`` plus ``index.faiss`` and ``keys.npy`` (``vectors.npy`` and
        ``keys.npy`` while untrained) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        if self._pending is not None:
            save_array(directory / "keys.npy", self._pending.keys())
            save_array(directory / "vectors.npy", self._pending.vectors_of(self._pending.keys()))
        else:
            faiss = load_faiss()
            temp = directory / (_FILE + ".tmp")
            faiss.write_index(self._ivf, str(temp))
            os.replace(temp, directory / _FILE)
            save_array(directory / "keys.npy", self._keys)
        write_params(directory, {
            "kind": self.kind, "dim": self.dim, "count": len(self), "nprobe": self.nprobe,
            "rescore": self.rescore, "min_train": self.min_train,
            "compression": self.compression, "trained_size": self.trained_size,
            "library": "faiss"})

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> IvfPqIndex:
        """Read an index written by ``save``; attach ``rescore_source`` again afterwards.

        Args:
            directory: the folder ``save`` wrote.
            mmap: accepted for ``load_index``; the index is read whole either way (codes are
                small, an untrained index is under ``min_train`` vectors, and faiss's mapped
                lists are read-only).

        Raises:
            StoreError: a file is missing, truncated or inconsistent; rebuild the index.
        """
        params = read_params(directory, cls.kind)
        ints = {name: param_int(params, name, directory, minimum=1)
                for name in ("dim", "nprobe", "rescore", "min_train", "compression")}
        count = param_int(params, "count", directory)
        index = cls(ints["dim"], ints["nprobe"], ints["rescore"], ints["min_train"],
                    ints["compression"])
        index.trained_size = param_int(params, "trained_size", directory)
        keys = load_array(directory / "keys.npy", (count,), np.int64, mmap=False)
        if index.trained_size == 0:
            vectors = load_array(directory / "vectors.npy", (count, index.dim), np.float32, mmap)
            pending = ExactIndex(index.dim)
            pending.add(keys, vectors)
            if len(pending) != count:
                raise StoreError(f"{directory}: keys.npy repeats keys; rebuild the index")
            index._pending = pending
            return index
        index._ivf = _read_faiss(directory / _FILE, index.dim, count)
        index._keys, index._pending = keys, None
        if count > 1 and not bool(np.all(np.diff(keys) > 0)):
            raise StoreError(f"{directory}: keys.npy is not sorted and unique; rebuild the index")
        return index

    def _train(self, keys: np.ndarray, vectors: np.ndarray, expected: int = 0) -> None:
        """Train the quantisers on ``vectors`` (laid out for ``expected`` vectors when more),
        add them under ``keys`` and drop ``_pending``."""
        faiss = load_faiss()
        size = max(len(keys), expected)
        layout = ivfpq_layout(size, self.dim, self.compression)
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFPQ(quantizer, self.dim, layout.nlist, layout.m, layout.nbits,
                               faiss.METRIC_INNER_PRODUCT)
        ivf.cp.max_points_per_centroid = TRAIN_PER_LIST
        ivf.cp.seed = ivf.pq.cp.seed = 1234
        with one_faiss_thread(faiss):
            ivf.train(vectors)
            ivf.add_with_ids(vectors, keys)
        order = np.argsort(keys)
        self._ivf, self._keys, self._pending = ivf, keys[order], None
        self.trained_size = size

    def _drop(self, keys: np.ndarray) -> None:
        """Remove those of ``keys`` the trained index holds."""
        if not len(keys) or not len(self._keys):
            return
        positions, present = locate(self._keys, keys)
        if not present.any():
            return
        faiss = load_faiss()
        doomed = keys[present]
        with one_faiss_thread(faiss):
            self._ivf.remove_ids(faiss.IDSelectorBatch(doomed))
        self._keys = np.delete(self._keys, np.unique(positions[present]))

    def _scan(self, q: np.ndarray, size: int, probes: int,
              selector: Any) -> tuple[Keys, Scores]:
        faiss = load_faiss()
        params = faiss.SearchParametersIVF(nprobe=probes, sel=selector) if selector is not None \
            else faiss.SearchParametersIVF(nprobe=probes)
        with one_faiss_thread(faiss):
            scores, keys = self._ivf.search(q[None], size, params=params)
        found = keys[0] >= 0
        return keys[0][found].astype(np.int64), scores[0][found].astype(np.float32)

    def _scan_allowed(self, q: np.ndarray, size: int, probes: int,
                      wanted: np.ndarray) -> tuple[Keys, Scores]:
        """Scan with a faiss ID selector; probe 4x more lists while too few allowed keys turn
        up (they may all sit in lists far from the query)."""
        selector = load_faiss().IDSelectorBatch(wanted)
        needed = min(size, len(wanted))
        while True:
            keys, scores = self._scan(q, size, probes, selector)
            if len(keys) >= needed or probes >= self._ivf.nlist:
                return keys, scores
            probes = min(self._ivf.nlist, 4 * probes)


def _read_faiss(path: Path, dim: int, count: int) -> Any:
    faiss = load_faiss()
    if not path.is_file():
        raise StoreError(f"{path} is missing; rebuild the index")
    try:
        ivf = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise StoreError(f"{path} is unreadable ({exc}); rebuild the index") from None
    if not isinstance(ivf, faiss.IndexIVFPQ) or ivf.d != dim or ivf.ntotal != count:
        raise StoreError(f"{path} holds {getattr(ivf, 'ntotal', '?')} vectors of dimension "
                         f"{getattr(ivf, 'd', '?')}, but params.json says {count} of dimension "
                         f"{dim} in an IVF-PQ index; rebuild the index")
    return ivf
