"""The graph retriever: a personalised PageRank over chunks and the concepts they mention,
seeded by the concepts the query names (HippoRAG's walk: Gutiérrez et al. 2024, over
LazyGraphRAG's model-free concepts). A chunk that shares no word with the question can rank
high when it mentions a concept of a chunk that names the question's concepts: the bridge
paragraph of a two-hop question.

The walk alternates over the bipartite graph: concept mass spreads evenly to the chunks that
mention a concept, each chunk's mass evenly back to its concepts, and at every step a share
``restart`` returns to the seeds. Concepts mentioned by very many chunks link everything to
everything and are left out of the walk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from lore.retrieve.protocol import Query, RankedList, Retriever
from lore.store.concepts import ConceptIndex
from lore.store.derived import DerivedIndex

RESTART = 0.5
"""The share of mass sent back to the seeds at each step (HippoRAG's damping)."""
STEPS = 10
"""Alternations of the walk; its mass settles within a few."""
MIN_COMMON = 30
"""A concept mentioned by more chunks than this, and than ``COMMON_SHARE`` of them, is too
common to link anything. On 100 HotpotQA questions (by hand, once), cutting at 10, 30 or 100
chunks of 4,947 left the fused top 10 within a point."""
COMMON_SHARE = 0.01


SEED_CHUNKS = 3
"""The first chunks of a lexical search whose concepts seed the walk beside the question's
own (HippoRAG 2 seeds passages too): they name what the question is about when it names it
in other words. 0 seeds from the question's concepts alone."""
SEED_CHUNK_WEIGHT = 0.5
"""A seed chunk's concepts weigh this much, shared among them, divided by its rank."""


class GraphRetriever:
    """Ranks chunks by a walk from the query's concepts.

    >>> retriever = GraphRetriever(concepts)       # a DerivedIndex over the store's concepts
    >>> retriever.retrieve(Query("Where was the author of the sweeper born?"), 10, None)
    """

    name = "graph"
    reads_vector = False

    def __init__(self, concepts: DerivedIndex[ConceptIndex],
                 first_stage: Retriever | None = None) -> None:
        self._concepts = concepts
        self._first_stage = first_stage
        self._walk: tuple[sparse.csr_matrix, Walk] | None = None
        """The walk's operators and the incidence they were built from: rebuilt only when the
        index hands out a new matrix (its chunks changed), not on every search."""

    def reads(self, query: Query) -> bool:
        return True

    def retrieve(self, query: Query, n: int, allowed: np.ndarray | None) -> RankedList:
        index = self._concepts.current()
        keys, incidence = index.matrix()
        seeds = self._seeds(index, query, allowed)
        if not seeds or not len(keys):
            return RankedList(self.name, [], complete=True)
        scores = self._walk_over(incidence).run(seeds)
        if allowed is not None:
            scores = np.where(np.isin(keys, allowed), scores, 0.0)
        found = np.flatnonzero(scores > 0)
        best = found[np.argsort(-scores[found], kind="stable")][:n]
        # The walk's mass spans orders of magnitude: fused as it is, a few chunks near the
        # seeds take the whole graph list's weight. Its logarithm ranks the same and lets the
        # chunks one link further, a two-hop question's second paragraph, count too; offset
        # so the least mass found scores 1 and a chunk the walk never reached stays at 0.
        floor = float(scores[found].min()) if len(found) else 1.0
        ranking = [(int(keys[at]), 1.0 + float(np.log(scores[at] / floor))) for at in best]
        return RankedList(self.name, ranking, complete=len(found) <= n)

    def _walk_over(self, incidence: sparse.csr_matrix) -> Walk:
        cached = self._walk
        if cached is None or cached[0] is not incidence:
            cached = self._walk = (incidence, Walk.over(incidence))
        return cached[1]

    def _seeds(self, index: ConceptIndex, query: Query, allowed: np.ndarray | None
               ) -> dict[int, float]:
        seeds = index.matching(query.text)
        if self._first_stage is None or SEED_CHUNKS == 0:
            return seeds
        first = self._first_stage.retrieve(query, SEED_CHUNKS, allowed).ranking
        for rank, (key, _) in enumerate(first[:SEED_CHUNKS], start=1):
            named = index.concepts_of(key)
            for concept in named.tolist():
                share = SEED_CHUNK_WEIGHT / rank / len(named)
                seeds[int(concept)] = seeds.get(int(concept), 0.0) + share
        return seeds


@dataclass(frozen=True)
class Walk:
    """The walk's operators over one incidence matrix (chunks x concepts)."""

    linking: np.ndarray
    """Concepts the walk may pass through: those not too common to link anything."""
    to_chunks: sparse.csr_matrix
    """Concept -> the chunks mentioning it, rows summing to 1."""
    to_concepts: sparse.csr_matrix
    """Chunk -> its concepts, rows summing to 1."""

    @classmethod
    def over(cls, incidence: sparse.csr_matrix) -> Walk:
        chunks = incidence.shape[0]
        mentions = np.asarray(incidence.sum(axis=0)).ravel()
        linking = mentions <= max(MIN_COMMON, COMMON_SHARE * chunks)
        kept = incidence @ sparse.diags(linking.astype(np.float32))
        return cls(linking, _rows_normalised(kept.T.tocsr()), _rows_normalised(kept))

    def run(self, seeds: dict[int, float]) -> np.ndarray:
        """Each chunk's mass after the walk from ``seeds`` (concept id -> weight)."""
        start = np.zeros(len(self.linking))
        for concept, weight in seeds.items():
            if self.linking[concept]:
                start[concept] = weight
        if not start.any():
            return np.zeros(self.to_concepts.shape[0])
        start /= start.sum()
        mass = start
        for _ in range(STEPS):
            on_chunks = self.to_chunks.T @ mass
            mass = RESTART * start + (1 - RESTART) * (self.to_concepts.T @ on_chunks)
        scores: np.ndarray = np.asarray(self.to_chunks.T @ mass).ravel()
        return scores


def _rows_normalised(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    inverse = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    normalised: sparse.csr_matrix = sparse.diags(inverse) @ matrix
    return normalised.tocsr()
