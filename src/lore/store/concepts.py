"""The concept index: which concepts (``lore.text.concepts``) each chunk mentions, derived
from the store like the BM25 index (``lore.store.derived``), and the chunk-concept incidence
matrix the graph retriever walks. Two concepts are linked through the chunks that mention
both; the walk reads that as the bipartite graph itself, so no edge list is kept.

Saved as ``concepts.json`` (the concept names, in id order) and three columns: ``keys.npy``
(chunk rowids, in order), ``sizes.npy`` (how many concepts each mentions) and ``ids.npy``
(their concept ids, chunk after chunk), with the concept graph and its communities
(``lore.graph``) built from them, so ``lore index`` pays for the graph and a question never
waits for it. ``ConceptWriter`` writes the same files a batch of chunks at a time. Copies
saved before the columns (one ``chunks.npz``) still load.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sparse

from lore.errors import StoreError
from lore.graph.build import GraphSettings, build_graph, settings_digest
from lore.graph.model import Graph
from lore.store.columns import ColumnFiles, NpyFile, live_rows
from lore.text.analyze import analyze
from lore.text.concepts import concepts

_DTYPES: dict[str, np.dtype[Any]] = {"keys": np.dtype(np.int64), "sizes": np.dtype(np.int64),
                                     "ids": np.dtype(np.int32)}
_NAMES = "concepts.json"


class ConceptIndex:
    """Concept ids by chunk rowid, with the incidence matrix built on demand.

    The rows are held as three arrays (rowids in order, offsets, concept ids), the saved
    columns' layout, so a million chunks take a few hundred bytes each, not Python objects.
    Rows added since are kept as batches and merged in on the next read.

    >>> index = ConceptIndex()
    >>> index.add([7], [["ada park", "university of oslo"]])
    >>> index.matrix().shape
    (1, 2)
    """

    kind = "concepts"

    def __init__(self) -> None:
        self._names = Names()
        self._rows = _Rows.empty()
        self._added: list[_Rows] = []
        """Batches added since the rows were last merged, oldest first."""
        self._built: tuple[np.ndarray, sparse.csr_matrix] | None = None
        self._words: dict[str, list[tuple[int, int]]] | None = None
        self._graph: Graph | None = None

    def __len__(self) -> int:
        return len(self._merged().keys)

    @property
    def names(self) -> list[str]:
        """Concept names by id; an id outlives the chunks that mention it until a rebuild."""
        return self._names.names

    def add(self, keys: Iterable[int], concepts: Iterable[Sequence[str]]) -> None:
        """Give chunks ``keys`` these concepts, replacing what they had."""
        self._added.append(self._names.rows(keys, concepts))
        self._built = self._words = self._graph = None

    def remove(self, keys: np.ndarray) -> None:
        rows = self._merged()
        self._rows = rows.take(np.flatnonzero(~np.isin(rows.keys, keys)))
        self._built = self._graph = None

    def matrix(self) -> tuple[np.ndarray, sparse.csr_matrix]:
        """(chunk rowids, binary chunks x concepts matrix with a row per rowid)."""
        if self._built is None:
            rows = self._merged()
            # Its own copy of the ids: scipy may sort a row's indices in place.
            incidence = sparse.csr_matrix(
                (np.ones(len(rows.ids), dtype=np.float32), rows.ids.copy(), rows.offsets),
                shape=(len(rows.keys), len(self.names)))
            self._built = rows.keys, incidence
        return self._built

    def concepts_of(self, key: int) -> np.ndarray:
        """The concept ids chunk ``key`` mentions (none for an unknown chunk)."""
        rows = self._merged()
        at = int(np.searchsorted(rows.keys, key))
        if at == len(rows.keys) or rows.keys[at] != key:
            return np.zeros(0, dtype=np.int32)
        found: np.ndarray = rows.ids[rows.offsets[at]:rows.offsets[at + 1]]
        return found

    def chunks_with(self, concept: int) -> np.ndarray:
        """Rowids of the chunks that mention concept ``concept``."""
        keys, incidence = self.matrix()
        if not 0 <= concept < incidence.shape[1]:
            return np.zeros(0, dtype=np.int64)
        rows: np.ndarray = keys[incidence[:, concept].nonzero()[0]]
        return rows

    def concept_id(self, name: str) -> int | None:
        return self._names.ids.get(name)

    def graph(self) -> Graph:
        """The concept graph and its communities, built when the chunks changed: from the
        rows a block at a time, never from the whole incidence matrix (``lore index`` saves
        the graph, and needs the matrix no other time)."""
        if self._graph is None:
            self._graph = build_graph(self._merged().keys, self.incidence(), self.names)
        return self._graph

    def incidence(self) -> RowIncidence:
        """The incidence matrix, rows in the order of ``matrix``'s, built a block at a time
        as it is read."""
        rows = self._merged()
        return RowIncidence(rows.offsets, lambda start, stop: rows.ids[start:stop],
                            len(self.names))

    def matching(self, text: str) -> dict[int, float]:
        """The concepts a query names, weighted: those it names whole (1.0); when it names
        none whole, those it holds at least half the words of (stemmed, stopwords aside),
        with that share ("quantum" for "quantum computer").

        Parts count only as a fallback: a single common word of the query ("film") names
        part of thousands of concepts and drowns the walk. On 200 HotpotQA questions (by
        hand, once), the walk alone put both gold paragraphs in its top 10 for 0.70 of them
        this way, 0.695 from whole concepts alone and 0.23 from parts always."""
        ids = self._names.ids
        whole = {ids[name]: 1.0 for name in concepts(text) if name in ids}
        if whole:
            return whole
        held: dict[int, int] = {}
        size: dict[int, int] = {}
        for term in set(analyze(text)):
            for concept, words in self._by_word().get(term, ()):
                held[concept] = held.get(concept, 0) + 1
                size[concept] = words
        return {concept: count / size[concept] for concept, count in held.items()
                if count / size[concept] >= 0.5}

    def save(self, directory: Path) -> None:
        rows = self._merged()
        for name, array in (("keys", rows.keys), ("sizes", np.diff(rows.offsets)),
                            ("ids", rows.ids)):
            np.save(directory / f"{name}.npy", array.astype(_DTYPES[name], copy=False))
        self._names.save(directory)
        self.graph().save(directory)

    @classmethod
    def load(cls, directory: Path) -> ConceptIndex:
        index = cls()
        index._names = Names.load(directory)
        if (directory / "chunks.npz").is_file():  # saved before the columns
            with np.load(directory / "chunks.npz") as arrays:
                keys, offsets, ids = arrays["keys"], arrays["offsets"], arrays["ids"]
        else:
            keys, sizes, ids = (np.load(directory / f"{name}.npy") for name in _DTYPES)
            offsets = _offsets(sizes)
        index._added.append(_Rows(np.asarray(keys, np.int64), np.asarray(offsets, np.int64),
                                  np.asarray(ids, np.int32)))
        index._graph = Graph.load(directory, settings_digest(GraphSettings()))
        return index

    def _merged(self) -> _Rows:
        """The rows with every batch added since merged in: by rowid, each rowid once, with
        the concepts it was given last."""
        if self._added:
            self._rows = _Rows.concatenate([self._rows, *self._added]).latest_by_key()
            self._added = []
        return self._rows

    def _by_word(self) -> dict[str, list[tuple[int, int]]]:
        """Stemmed word -> (concept id, the concept's word count)."""
        if self._words is None:
            words: dict[str, list[tuple[int, int]]] = {}
            for number, name in enumerate(self.names):
                terms = set(analyze(name))
                for term in terms:
                    words.setdefault(term, []).append((number, len(terms)))
            self._words = words
        return self._words


@dataclass(frozen=True)
class _Rows:
    """Chunks' concept ids as one array: row ``i`` is chunk ``keys[i]``, whose concepts are
    ``ids[offsets[i]:offsets[i + 1]]``."""

    keys: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray

    @classmethod
    def empty(cls) -> _Rows:
        return cls(np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int32))

    @classmethod
    def concatenate(cls, parts: Sequence[_Rows]) -> _Rows:
        lengths = np.concatenate([np.diff(part.offsets) for part in parts])
        return cls(np.concatenate([part.keys for part in parts]), _offsets(lengths),
                   np.concatenate([part.ids for part in parts]))

    def latest_by_key(self) -> _Rows:
        """Sorted by key, keeping each key's last row (these rows, when they already are)."""
        if len(self.keys) < 2 or bool((self.keys[1:] > self.keys[:-1]).all()):
            return self  # rows filled in key order, as a build from the store fills them
        _, first_from_end = np.unique(self.keys[::-1], return_index=True)
        return self.take(len(self.keys) - 1 - first_from_end)

    def take(self, rows: np.ndarray) -> _Rows:
        """These rows, in this order."""
        starts, lengths = self.offsets[rows], np.diff(self.offsets)[rows]
        offsets = _offsets(lengths)
        shift = np.repeat(starts - offsets[:-1], lengths)
        return _Rows(self.keys[rows], offsets,
                     self.ids[shift + np.arange(offsets[-1], dtype=np.int64)])


class RowIncidence:
    """Chunks' concepts as ``lore.graph.model.Incidence``: each block of rows read is built
    on its own, from ``offsets`` (row ``i``'s concept ids are ``offsets[i]:offsets[i + 1]``
    of the ids) and ``read_ids(start, stop)``, so the whole matrix (a float and an index per
    mention) is never held, nor, when the ids are read from a file, the ids."""

    def __init__(self, offsets: np.ndarray, read_ids: Callable[[int, int], np.ndarray],
                 concepts: int) -> None:
        self._offsets, self._read_ids = offsets, read_ids
        self.shape = (len(offsets) - 1, concepts)

    def __getitem__(self, rows: slice) -> sparse.csr_matrix:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ValueError("RowIncidence reads contiguous blocks of rows")
        offsets = self._offsets[start:max(start, stop) + 1]
        ids = np.array(self._read_ids(int(offsets[0]), int(offsets[-1])), dtype=np.int32)
        return sparse.csr_matrix((np.ones(len(ids), dtype=np.float32), ids,
                                  offsets - offsets[0]), shape=(len(offsets) - 1, self.shape[1]))


class Names:
    """Concept names and their ids, in the order they were first met."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = list(names)
        self.ids = {name: number for number, name in enumerate(self.names)}

    def rows(self, keys: Iterable[int], concepts: Iterable[Sequence[str]]) -> _Rows:
        """Chunks ``keys`` with these concepts (each once), new names given new ids."""
        listed = [[self._id(name) for name in dict.fromkeys(names)] for names in concepts]
        rowids = np.fromiter(keys, dtype=np.int64)
        if len(rowids) != len(listed):
            raise ValueError(f"{len(rowids)} chunks but {len(listed)} lists of concepts")
        lengths = np.fromiter((len(ids) for ids in listed), dtype=np.int64, count=len(listed))
        ids = np.fromiter((i for ids in listed for i in ids), dtype=np.int32,
                          count=int(lengths.sum()))
        return _Rows(rowids, _offsets(lengths), ids)

    def save(self, directory: Path) -> None:
        (directory / _NAMES).write_text(json.dumps(self.names, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> Names:
        return cls(json.loads((directory / _NAMES).read_text()))

    def _id(self, name: str) -> int:
        number = self.ids.get(name)
        if number is None:
            number = self.ids[name] = len(self.names)
            self.names.append(name)
        return number


class ConceptWriter:
    """Writes what ``ConceptIndex.save`` writes, a batch of chunks at a time, holding the
    concept names and, to build the graph, each chunk's rowid and concept count; the concept
    ids are read back from disk a block at a time.

    >>> writer = ConceptWriter(directory)
    >>> writer.add([7, 9], [["ada park", "oslo"], ["oslo"]])
    >>> writer.finish()
    >>> ConceptIndex.load(directory).concepts_of(9)
    array([1], dtype=int32)
    """

    ROWS = 100_000
    """Rows of an earlier copy carried over at a time (``carry``)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._names = Names()
        self._columns = ColumnFiles(directory, _DTYPES)

    def add(self, keys: Iterable[int], concepts: Iterable[Sequence[str]]) -> None:
        """Append chunks and their concepts; a key must not be written twice."""
        rows = self._names.rows(keys, concepts)
        self._columns.append({"keys": rows.keys, "sizes": np.diff(rows.offsets),
                              "ids": rows.ids})

    def carry(self, earlier: Path, dropped: np.ndarray) -> None:
        """Append every row of the copy saved in ``earlier`` but those whose key is in
        ``dropped``, read from disk a block at a time; its names become this one's (so its
        concept ids keep their meaning)."""
        try:
            self._names = Names.load(earlier)
            columns = {name: NpyFile(earlier / f"{name}.npy") for name in _DTYPES}
        except (OSError, ValueError, KeyError) as exc:  # or a copy saved before the columns
            raise StoreError(f"concept index at {earlier} is unreadable ({exc}); "
                             "it is rebuilt from the store") from None
        for block in live_rows(columns, ("ids",), dropped, self.ROWS):
            self._columns.append(block)

    def finish(self) -> None:
        """Write the columns and the names, then build and save the concept graph."""
        self._columns.finish()
        self._names.save(self._directory)
        keys, incidence = saved_incidence(self._directory, len(self._names.names))
        if len(keys) > 1 and not bool((keys[1:] > keys[:-1]).all()):
            ConceptIndex.load(self._directory).save(self._directory)  # sorted, in memory
            return
        build_graph(keys, incidence, self._names.names).save(self._directory)


def saved_incidence(directory: Path, concepts: int) -> tuple[np.ndarray, RowIncidence]:
    """The chunk rowids of the columns saved in ``directory``, and their incidence with
    ``concepts`` columns, its ids read from disk a block of rows at a time."""
    keys = np.load(directory / "keys.npy")
    offsets = _offsets(np.load(directory / "sizes.npy"))
    ids = NpyFile(directory / "ids.npy")
    return keys, RowIncidence(offsets, lambda start, stop: ids.read(start, stop - start),
                              concepts)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets
