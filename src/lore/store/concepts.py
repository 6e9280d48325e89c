"""The concept index: which concepts (``lore.text.concepts``) each chunk mentions, derived
from the store like the BM25 index (``lore.store.derived``), and the chunk-concept incidence
matrix the graph retriever walks. Two concepts are linked through the chunks that mention
both; the walk reads that as the bipartite graph itself, so no edge list is kept.

Saved as ``concepts.json`` (the concept names, in id order) and ``chunks.npz`` (chunk
rowids, and each chunk's concept ids as offsets into one array), with the concept graph and
its communities (``lore.graph``) built from them, so ``lore index`` pays for the graph and a
question never waits for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sparse

from lore.graph.build import GraphSettings, build_graph, settings_digest
from lore.graph.model import Graph
from lore.text.analyze import analyze
from lore.text.concepts import concepts


class ConceptIndex:
    """Concept ids by chunk rowid, with the incidence matrix built on demand.

    The rows are held as three arrays (rowids in order, offsets, concept ids), the layout of
    ``chunks.npz``, so a million chunks take tens of megabytes, not a Python object each.
    Rows added since are kept as batches and merged in on the next read.

    >>> index = ConceptIndex()
    >>> index.add([7], [["ada park", "university of oslo"]])
    >>> index.matrix().shape
    (1, 2)
    """

    kind = "concepts"

    def __init__(self) -> None:
        self.names: list[str] = []
        """Concept names by id; an id outlives the chunks that mention it until a rebuild."""
        self._ids: dict[str, int] = {}
        self._rows = _Rows.empty()
        self._added: list[_Rows] = []
        """Batches added since the rows were last merged, oldest first."""
        self._built: tuple[np.ndarray, sparse.csr_matrix] | None = None
        self._words: dict[str, list[tuple[int, int]]] | None = None
        self._graph: Graph | None = None

    def __len__(self) -> int:
        return len(self._merged().keys)

    def add(self, keys: Iterable[int], concepts: Iterable[Sequence[str]]) -> None:
        """Give chunks ``keys`` these concepts, replacing what they had."""
        listed = [[self._id(name) for name in dict.fromkeys(names)] for names in concepts]
        rowids = np.fromiter(keys, dtype=np.int64)
        if len(rowids) != len(listed):
            raise ValueError(f"{len(rowids)} chunks but {len(listed)} lists of concepts")
        lengths = np.fromiter((len(ids) for ids in listed), dtype=np.int64, count=len(listed))
        ids = np.fromiter((i for ids in listed for i in ids), dtype=np.int32,
                          count=int(lengths.sum()))
        self._added.append(_Rows(rowids, _offsets(lengths), ids))
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
        return self._ids.get(name)

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
        return RowIncidence(self._merged(), len(self.names))

    def matching(self, text: str) -> dict[int, float]:
        """The concepts a query names, weighted: those it names whole (1.0); when it names
        none whole, those it holds at least half the words of (stemmed, stopwords aside),
        with that share ("quantum" for "quantum computer").

        Parts count only as a fallback: a single common word of the query ("film") names
        part of thousands of concepts and drowns the walk. On 200 HotpotQA questions (by
        hand, once), the walk alone put both gold paragraphs in its top 10 for 0.70 of them
        this way, 0.695 from whole concepts alone and 0.23 from parts always."""
        whole = {self._ids[name]: 1.0 for name in concepts(text) if name in self._ids}
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
        np.savez(directory / "chunks.npz", keys=rows.keys, offsets=rows.offsets, ids=rows.ids)
        (directory / "concepts.json").write_text(json.dumps(self.names, ensure_ascii=False))
        self.graph().save(directory)

    @classmethod
    def load(cls, directory: Path) -> ConceptIndex:
        index = cls()
        index.names = list(json.loads((directory / "concepts.json").read_text()))
        index._ids = {name: number for number, name in enumerate(index.names)}
        with np.load(directory / "chunks.npz") as arrays:
            index._added.append(_Rows(np.asarray(arrays["keys"], np.int64),
                                      np.asarray(arrays["offsets"], np.int64),
                                      np.asarray(arrays["ids"], np.int32)))
        index._graph = Graph.load(directory, settings_digest(GraphSettings()))
        return index

    def _merged(self) -> _Rows:
        """The rows with every batch added since merged in: by rowid, each rowid once, with
        the concepts it was given last."""
        if self._added:
            self._rows = _Rows.concatenate([self._rows, *self._added]).latest_by_key()
            self._added = []
        return self._rows

    def _id(self, name: str) -> int:
        number = self._ids.get(name)
        if number is None:
            number = self._ids[name] = len(self.names)
            self.names.append(name)
        return number

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
    """The incidence matrix of ``rows`` as ``lore.graph.model.Incidence``: each block of rows
    read is built on its own, so the whole matrix (a float and an index per mention) is never
    held beside the rows."""

    def __init__(self, rows: _Rows, concepts: int) -> None:
        self._rows, self.shape = rows, (len(rows.keys), concepts)

    def __getitem__(self, rows: slice) -> sparse.csr_matrix:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ValueError("RowIncidence reads contiguous blocks of rows")
        stop = max(start, stop)
        offsets = self._rows.offsets[start:stop + 1]
        ids = self._rows.ids[offsets[0]:offsets[-1]]
        return sparse.csr_matrix((np.ones(len(ids), dtype=np.float32), ids.copy(),
                                  offsets - offsets[0]), shape=(stop - start, self.shape[1]))


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets
