"""The knowledge base's concept graph, as methods of ``KnowledgeBase``: its size, its
communities with the documents they hold, and its export (``lore graph``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lore.embed.protocol import Embedder
from lore.errors import ConfigError
from lore.graph.export import ExportFormat, export_graph
from lore.graph.model import Graph
from lore.graph.report import CommunitySummary, Neighbourhood, neighbourhood, summaries
from lore.rerank.heads import ScoringHead
from lore.rerank.protocol import Reranker
from lore.store.concepts import ConceptIndex
from lore.store.derived import DerivedIndex
from lore.store.protocol import Store
from lore.types import Filter, Hit

LLM_THRESHOLD = 0.0
"""The local model's yes/no log-odds above which a chunk is relevant (``rerank.llm``)."""
CROSS_THRESHOLD = 0.5
"""A cross-encoder's probability above which a chunk is relevant."""


@dataclass(frozen=True, slots=True)
class CommunityView:
    summary: CommunitySummary
    documents: tuple[str, ...]
    """Titles (or paths) of the documents with the most chunks in it, first the most."""


class Graphing:
    """Mixed into ``KnowledgeBase``, whose store and concept index these methods read."""

    _store: Store
    _concepts: DerivedIndex[ConceptIndex]

    @property
    def embedder(self) -> Embedder:
        raise NotImplementedError

    def _ranking(self, text: str, depth: int, retrievers: Sequence[str]
                 ) -> list[tuple[int, float]]:
        raise NotImplementedError

    def _hits_of(self, rowids: Sequence[int]) -> dict[int, Hit]:
        raise NotImplementedError

    def _reranking(self, spec: str) -> Reranker | ScoringHead:
        raise NotImplementedError

    def _relevance_floor(self) -> float | None:
        raise NotImplementedError

    def community_reader(self, test: str, where: Filter | None = None) -> KbCommunities:
        """What ``global`` and ``local`` read, relevance judged by ``test``
        (``query.relevance_test``), within ``where``."""
        allowed = self._store.filtered_rowids(where) if where else None
        return KbCommunities(self, test, allowed)

    def concept_graph(self) -> tuple[Graph, list[str]]:
        """The concept graph, caught up with the store, and the concept names it speaks of."""
        index = self._concepts.current()
        return index.graph(), index.names

    def graph_stats(self) -> dict[str, float | int]:
        graph, names = self.concept_graph()
        return {"concepts_read": len(names), **graph.facts()}

    def communities(self, level: int = 0, limit: int | None = None, documents: int = 3
                    ) -> list[CommunityView]:
        """The communities of ``level``, the largest first, each with its documents."""
        graph, names = self.concept_graph()
        found = summaries(graph, names, level)[:limit]
        return [CommunityView(summary, self._documents_of(graph, summary.id, documents))
                for summary in found]

    def graph_around(self, chunk_ids: Sequence[str], limit: int = 30) -> Neighbourhood:
        """The concepts of these chunks (``Chunk.id``) and their strongest neighbours,
        ``limit`` in all, with the links between them: what the web page draws around an
        answer's sources."""
        index = self._concepts.current()
        rowids = self._store.chunk_rowids(list(chunk_ids))
        concepts = [int(concept) for chunk in chunk_ids if chunk in rowids
                    for concept in index.concepts_of(rowids[chunk]).tolist()]
        return neighbourhood(index.graph(), index.names, concepts, limit)

    def concept_chunks(self, name: str, limit: int = 10) -> list[Hit]:
        """Chunks that mention the concept ``name`` (as ``lore graph`` lists it)."""
        index = self._concepts.current()
        concept = index.concept_id(name.strip().lower())
        if concept is None:
            return []
        rowids = index.chunks_with(concept)[:limit].tolist()
        hits = self._hits_of(rowids)
        return [hits[rowid] for rowid in rowids if rowid in hits]

    def export_graph(self, path: Path, form: ExportFormat) -> dict[str, float | int]:
        """Write the graph to ``path`` as GraphML or node-link JSON; returns its size."""
        graph, names = self.concept_graph()
        export_graph(graph, names, path, form)
        return graph.facts()

    def _documents_of(self, graph: Graph, community: int, count: int) -> tuple[str, ...]:
        rows = graph.communities.chunk_rows(community)
        chunks = self._store.chunks(graph.chunk_keys[rows].tolist())
        tally = Counter(stored.title or Path(stored.path).name for stored in chunks.values())
        return tuple(name for name, _ in tally.most_common(count))


class KbCommunities:
    """The ``CommunityReader`` of one question: this knowledge base's graph, search and
    relevance test, within the user's filter."""

    def __init__(self, kb: Graphing, test: str, allowed: np.ndarray | None) -> None:
        self._kb = kb
        self._test = test
        self._allowed = set(allowed.tolist()) if allowed is not None else None
        self._question_vectors: dict[str, np.ndarray] = {}

    @property
    def test_name(self) -> str:
        return self._test

    def graph(self) -> tuple[Graph, list[str]]:
        return self._kb.concept_graph()

    def rank(self, text: str, depth: int, retrievers: Sequence[str]) -> list[int]:
        ranked = self._kb._ranking(text, depth, retrievers)
        return [rowid for rowid, _ in ranked if self._permitted(rowid)]

    def hits(self, rowids: Sequence[int]) -> dict[int, Hit]:
        return self._kb._hits_of(rowids)

    def relevant(self, question: str, rowids: Sequence[int]) -> np.ndarray:
        keys = np.asarray(rowids, dtype=np.int64)
        if self._test == "embedding":
            margins = self._similarity(question, keys) - (self._kb._relevance_floor() or 0.0)
        else:
            chunks = self._kb._store.chunks(keys.tolist())
            texts = [chunks[k].chunk.text if k in chunks else "" for k in keys.tolist()]
            scorer = self._kb._reranking(self._test)
            if isinstance(scorer, ScoringHead):
                raise ConfigError(f"{self._test} is a scoring head: it ranks hits but cannot "
                                  "tell relevant from not; test relevance with embedding, "
                                  "llm, or a trained cross-encoder")
            threshold = LLM_THRESHOLD if self._test.startswith("llm") else CROSS_THRESHOLD
            margins = scorer.score(question, texts).astype(np.float64) - threshold
        barred = [not self._permitted(rowid) for rowid in keys.tolist()]
        return np.where(barred, -np.inf, margins)

    def _similarity(self, question: str, keys: np.ndarray) -> np.ndarray:
        if question not in self._question_vectors:
            self._question_vectors[question] = self._kb.embedder.embed_query(question)
        query = self._question_vectors[question]
        vectors = self._kb._store.vectors_by_rowid(keys, self._kb.embedder.dim)
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
        similarity: np.ndarray = (vectors @ query) / np.where(norms > 0, norms, 1.0)
        return similarity.astype(np.float64)

    def _permitted(self, rowid: int) -> bool:
        return self._allowed is None or rowid in self._allowed
