"""An in-memory BM25 index over analysed terms, derived from the store's FTS5 table.

FTS5 is the durable full-text index, but its ``bm25()`` ranks every matching row through a
per-row callback, many times slower for the same nDCG@10. This index precomputes each
posting's BM25 weight into term-major arrays, so a query is one gather and one
``np.bincount``. ``python benchmarks/scifact.py`` times lexical search (docs/retrieval.md).

Documents are stored row by row (append-only, deletions are tombstones); the term-major arrays
are rebuilt lazily after a change, in a few vectorised passes over every posting (a sort by
term among them).

Scoring is Lucene's BM25 (Robertson et al., "Okapi at TREC-3", 1994, as Lucene 8+ computes it:
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), never negative, and no (k1 + 1) numerator factor,
which scales every score alike and so changes no ranking). ``tests/store/test_bm25.py``
checks the scores against bm25s's ``lucene`` method.

>>> index = BM25Index()
>>> index.add(np.array([1, 2]), [["cach", "expir"], ["retri", "backoff"]])
>>> index.search(["cach"], k=1)
(array([1]), array([0.31...], dtype=float32))
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lore.errors import ConfigError, StoreError
from lore.store.columns import ColumnFiles, NpyFile, live_rows

_PARTS = ("keys", "terms", "tfs", "lengths", "sizes")
_DTYPES: dict[str, np.dtype[Any]] = {"keys": np.dtype(np.int64), "terms": np.dtype(np.int32),
           "tfs": np.dtype(np.float32), "lengths": np.dtype(np.float32),
           "sizes": np.dtype(np.int64)}


class BM25Index:
    """Keys are int64 chunk rowids; documents are lists of analysed terms."""

    kind = "bm25"

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._vocab: dict[str, int] = {}
        self._row_of: dict[int, int] = {}
        # Row-major data, appended in pieces and concatenated when read: per row its key,
        # length in terms and number of distinct terms; per (row, term) its term id and tf.
        self._parts: dict[str, list[np.ndarray]] = {
            "keys": [np.zeros(0, np.int64)], "terms": [np.zeros(0, np.int32)],
            "tfs": [np.zeros(0, np.float32)], "lengths": [np.zeros(0, np.float32)],
            "sizes": [np.zeros(0, np.int64)]}
        self._alive = np.zeros(0, dtype=bool)
        self._postings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._row_of)

    def set_parameters(self, k1: float, b: float) -> None:
        """Score with ``k1`` and ``b`` from now on (the postings' weights are recomputed on
        the next search): what fitting them to a knowledge base's queries tries."""
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"BM25 k1={k1}, b={b}: need k1 >= 0 and 0 <= b <= 1")
        self.k1, self.b = k1, b
        self._postings = None

    def add(self, keys: np.ndarray, documents: Sequence[Sequence[str]]) -> None:
        """Insert or replace the documents (lists of analysed terms) under ``keys``."""
        self.remove(keys)
        first_row = self._alive.size
        self._append(**rows(keys, documents, self._vocab))
        self._row_of.update((int(key), first_row + offset)
                            for offset, key in enumerate(keys.tolist()))
        self._alive = np.concatenate([self._alive, np.ones(len(keys), dtype=bool)])
        self._postings = None

    def remove(self, keys: np.ndarray) -> None:
        rows = [self._row_of.pop(int(k)) for k in keys.tolist() if int(k) in self._row_of]
        if rows:
            self._alive[rows] = False
            self._postings = None

    def search(self, terms: Sequence[str], k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Keys and scores of the best ``k`` documents containing any of ``terms``.

        A term repeated in ``terms`` counts once per occurrence, as in Lucene (a clause each)
        and bm25s: a long query (a whole argument or bug report) weighs what it dwells on.
        """
        repeats = Counter(self._vocab[t] for t in terms if t in self._vocab)
        if not repeats or not self._row_of:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        term_ptr, rows, weights = self._term_major()
        ids = sorted(repeats)
        hits = np.concatenate([np.arange(term_ptr[i], term_ptr[i + 1]) for i in ids])
        times = np.repeat([repeats[i] for i in ids], np.diff(term_ptr)[ids])
        scores = np.bincount(rows[hits], weights=weights[hits] * times,
                             minlength=self._alive.size)
        if allowed is not None:
            keep = np.zeros(self._alive.size, dtype=bool)
            keep[[self._row_of[a] for a in allowed.tolist() if a in self._row_of]] = True
            scores[~keep] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if candidates.size > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return self._merged("keys")[order], scores[order].astype(np.float32)

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """params.json, vocab.json and one .npy per row-major array (dead rows dropped)."""
        self._compact()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "params.json").write_text(json.dumps(
            {"kind": self.kind, "k1": self.k1, "b": self.b, "documents": len(self)}))
        (directory / "vocab.json").write_text(json.dumps(list(self._vocab), ensure_ascii=False))
        for name in _PARTS:
            np.save(directory / f"{name}.npy", self._merged(name))

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        try:
            params = json.loads((directory / "params.json").read_text())
            vocab = json.loads((directory / "vocab.json").read_text())
            arrays = {name: np.load(directory / f"{name}.npy") for name in _PARTS}
            index = cls(k1=float(params["k1"]), b=float(params["b"]))
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"BM25 index at {directory} is unreadable ({exc}); "
                             "it is rebuilt from the store") from None
        index._vocab = {term: i for i, term in enumerate(vocab)}
        index._parts = {name: [arrays[name]] for name in _PARTS}
        index._alive = np.ones(arrays["keys"].size, dtype=bool)
        index._row_of = {int(k): i for i, k in enumerate(arrays["keys"].tolist())}
        return index

    # -- internals ---------------------------------------------------------------------------

    def _append(self, **arrays: np.ndarray) -> None:
        for name, array in arrays.items():
            self._parts[name].append(array)

    def _merged(self, name: str) -> np.ndarray:
        parts = self._parts[name]
        if len(parts) > 1:
            parts[:] = [np.concatenate(parts)]
        return parts[0]

    def _compact(self) -> None:
        """Drop dead rows so saved files hold live documents only."""
        if self._alive.all():
            return
        per_term = np.repeat(self._alive, self._merged("sizes"))
        for name in ("terms", "tfs"):
            self._parts[name] = [self._merged(name)[per_term]]
        for name in ("keys", "lengths", "sizes"):
            self._parts[name] = [self._merged(name)[self._alive]]
        self._alive = np.ones(self._merged("keys").size, dtype=bool)
        self._row_of = {int(k): i for i, k in enumerate(self._merged("keys").tolist())}
        self._postings = None

    def _term_major(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term_ptr, rows, weights): live postings grouped by term, with BM25 weights."""
        if self._postings is None:
            self._postings = self._build_postings()
        return self._postings

    def _build_postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        terms, tfs, lengths = self._merged("terms"), self._merged("tfs"), self._merged("lengths")
        rows = np.repeat(np.arange(self._alive.size), self._merged("sizes"))
        live = self._alive[rows]
        rows, terms, tfs = rows[live], terms[live], tfs[live]
        documents = int(self._alive.sum())
        average = float(lengths[self._alive].mean()) if documents else 1.0
        df = np.bincount(terms, minlength=len(self._vocab)).astype(np.float64)
        idf = np.log1p((documents - df + 0.5) / (df + 0.5))
        norm = tfs + self.k1 * (1 - self.b + self.b * lengths[rows] / average)
        weights = idf[terms] * tfs / norm
        order = np.argsort(terms, kind="stable")
        term_ptr = np.concatenate([[0], np.cumsum(df.astype(np.int64))])
        return term_ptr, rows[order], weights[order]


def rows(keys: np.ndarray, documents: Sequence[Sequence[str]], vocab: dict[str, int]
         ) -> dict[str, np.ndarray]:
    """The row-major arrays (``_PARTS``) of these documents; new terms join ``vocab``."""
    term_ids: list[int] = []
    tfs: list[int] = []
    lengths, sizes = [], []
    for terms in documents:
        counts = Counter(terms)
        term_ids.extend(vocab.setdefault(t, len(vocab)) for t in counts)
        tfs.extend(counts.values())
        lengths.append(len(terms))
        sizes.append(len(counts))
    return {"keys": np.asarray(keys, np.int64), "terms": np.asarray(term_ids, np.int32),
            "tfs": np.asarray(tfs, np.float32), "lengths": np.asarray(lengths, np.float32),
            "sizes": np.asarray(sizes, np.int64)}


class BM25Writer:
    """Writes what ``BM25Index.save`` writes, a batch of documents at a time, holding only the
    vocabulary: how a large collection's index is saved without being held in memory.

    >>> writer = BM25Writer(directory)
    >>> writer.add(np.array([1, 2]), [["cach", "expir"], ["retri", "backoff"]])
    >>> writer.finish()
    >>> BM25Index.load(directory).search(["cach"], k=1)[0]
    array([1])
    """

    ROWS = 100_000
    """Rows of an earlier copy carried over at a time (``carry``)."""

    def __init__(self, directory: Path, k1: float = 1.2, b: float = 0.75) -> None:
        self._directory, self.k1, self.b = directory, k1, b
        self._vocab: dict[str, int] = {}
        self._columns = ColumnFiles(directory, _DTYPES)

    def add(self, keys: np.ndarray, documents: Sequence[Sequence[str]]) -> None:
        """Append documents (lists of analysed terms); a key must not be written twice."""
        self._columns.append(rows(keys, documents, self._vocab))

    def carry(self, earlier: Path, dropped: np.ndarray) -> None:
        """Append every row of the copy saved in ``earlier`` but those whose key is in
        ``dropped``, read from disk a block at a time; its vocabulary becomes this one's."""
        try:
            params = json.loads((earlier / "params.json").read_text())
            self._vocab = {t: i for i, t in enumerate(json.loads(
                (earlier / "vocab.json").read_text()))}
            arrays = {name: NpyFile(earlier / f"{name}.npy") for name in _PARTS}
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"BM25 index at {earlier} is unreadable ({exc}); "
                             "it is rebuilt from the store") from None
        self.k1, self.b = float(params["k1"]), float(params["b"])
        for block in live_rows(arrays, ("terms", "tfs"), dropped, self.ROWS):
            self._columns.append(block)

    def finish(self) -> None:
        """Write the ``.npy`` files, the vocabulary and the parameters."""
        self._columns.finish()
        (self._directory / "vocab.json").write_text(json.dumps(list(self._vocab),
                                                               ensure_ascii=False))
        (self._directory / "params.json").write_text(json.dumps(
            {"kind": BM25Index.kind, "k1": self.k1, "b": self.b,
             "documents": self._columns.counts["keys"]}))
