"""The knowledge base's graphs, as methods of ``KnowledgeBase``: the concept graph built with
the index and the model-built knowledge graph (``lore index --graph llm``), their sizes,
their communities with the documents they hold, and their export (``lore graph``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from lore.config import LoreConfig
from lore.directory import writer_lock
from lore.embed.protocol import Embedder
from lore.errors import ConfigError
from lore.generate.registry import create_generator
from lore.graph.export import ExportFormat, export_graph
from lore.graph.knowledge import KnowledgeGraph
from lore.graph.model import Graph
from lore.graph.report import CommunitySummary, Neighbourhood, neighbourhood, summaries
from lore.knowledge.builder import (
    ChunkText,
    KnowledgeBuilder,
    KnowledgePlan,
    KnowledgeRun,
    Progress,
    read_graph,
    read_summaries,
)
from lore.knowledge.ledger import Ledger
from lore.rerank.cross_encoder import CrossEncoderReranker
from lore.rerank.heads import ScoringHead
from lore.rerank.protocol import Reranker
from lore.store.concepts import ConceptIndex
from lore.store.derived import DerivedIndex
from lore.store.protocol import Store
from lore.types import Filter, Hit

LLM_THRESHOLD = 0.0
"""The local model's yes/no log-odds above which a chunk is relevant (``rerank.llm``)."""
CROSS_THRESHOLD = 0.5
"""A cross-encoder's probability above which a chunk is relevant, unless its training fitted
a threshold on held-out pairs (``CrossEncoderInfo.relevance_threshold``)."""
KNOWLEDGE_FILE = "knowledge.db"
GraphKind = Literal["concepts", "llm"]
"""Which graph: the concept graph (no model), or the model-built knowledge graph."""


@dataclass(frozen=True, slots=True)
class CommunityView:
    summary: CommunitySummary
    documents: tuple[str, ...]
    """Titles (or paths) of the documents with the most chunks in it, first the most."""
    written: str = ""
    """The model's summary of it (the knowledge graph's largest communities)."""
    kinds: tuple[str, ...] = field(default=())
    """The types of ``summary.central``'s entities (the knowledge graph)."""


class Graphing:
    """Mixed into ``KnowledgeBase``, whose store and concept index these methods read."""

    _store: Store
    _concepts: DerivedIndex[ConceptIndex]
    directory: Path
    config: LoreConfig

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

    def graph_stats(self, kind: GraphKind = "concepts") -> dict[str, float | int]:
        """Sizes and build time; for the knowledge graph, also what its model calls cost."""
        if kind == "llm":
            return self.knowledge_stats(self.knowledge_graph()[0])
        graph, names = self.concept_graph()
        return {"concepts_read": len(names), **graph.facts()}

    def knowledge_stats(self, knowledge: KnowledgeGraph) -> dict[str, float | int]:
        """The knowledge graph's sizes, and what the model calls behind it cost."""
        cost = self.knowledge_cost() or {}
        return {**knowledge.facts(), **{key: value for key, value in cost.items()
                                        if isinstance(value, int | float)}}

    def communities(self, level: int = 0, limit: int | None = None, documents: int = 3,
                    kind: GraphKind = "concepts") -> list[CommunityView]:
        """The communities of ``level``, the largest first, each with its documents (and,
        in the knowledge graph, the model's summary)."""
        written: dict[int, str] = {}
        types: dict[str, str] = {}
        if kind == "llm":
            knowledge, written = self.knowledge_graph()
            graph, names = knowledge.graph, knowledge.names
            types = dict(zip(names, knowledge.kinds, strict=True))
        else:
            graph, names = self.concept_graph()
        return [CommunityView(summary, self._documents_of(graph, summary.id, documents),
                              written.get(summary.id, ""),
                              tuple(types.get(name, "") for name in summary.central)
                              if types else ())
                for summary in summaries(graph, names, level)[:limit]]

    def knowledge_plan(self, model: str | None = None) -> KnowledgePlan:
        """What ``build_knowledge`` would read with ``model`` (default the answering
        model), and its cost in calls and tokens."""
        with self._ledger() as ledger:
            return self._knowledge_builder(ledger, model).plan(self._prose_chunks())

    def build_knowledge(self, plan: KnowledgePlan, on_chunk: Progress | None = None,
                        on_summary: Progress | None = None) -> KnowledgeRun:
        """Read the plan's chunks with its model, then summarise the largest communities.
        Interrupted, the next run goes on from the last chunk read."""
        with writer_lock(self.directory, ".knowledge.lock", "building the knowledge graph "
                         "of"), self._ledger() as ledger:
            builder = self._knowledge_builder(ledger, plan.model)
            ledger.use(builder.extractor)
            extracted, failed = builder.extract(plan, on_chunk)
            chunks = self._prose_chunks()
            ledger.forget_others(builder.extractor, [chunk.id for chunk in chunks])
            graph = read_graph(ledger, builder.extractor, chunks)
            summarised = builder.summarise(graph, on_summary)
        return KnowledgeRun(extracted, summarised, failed, graph)

    def knowledge_graph(self) -> tuple[KnowledgeGraph, dict[int, str]]:
        """The knowledge graph of the latest model's outputs, and its communities'
        summaries by id."""
        absent = ConfigError(f"{self.directory} has no knowledge graph yet: build it with "
                             "`lore index PATH --graph llm`")
        if not (self.directory / KNOWLEDGE_FILE).exists():
            raise absent
        with self._ledger() as ledger:
            extractor = ledger.latest_extractor()
            if extractor is None:
                raise absent
            graph = read_graph(ledger, extractor, self._prose_chunks())
            return graph, read_summaries(ledger, extractor, graph)

    def knowledge_cost(self) -> dict[str, float | int | str] | None:
        """The knowledge graph's model and what its calls cost, or None when there is
        none; read from the ledger, without building the graph."""
        if not (self.directory / KNOWLEDGE_FILE).exists():
            return None
        with self._ledger() as ledger:
            extractor = ledger.latest_extractor()
            if extractor is None:
                return None
            spent = ledger.spent(extractor)
            return {"extractor": extractor, "chunks_read": ledger.extraction_count(extractor),
                    "model_calls": spent.calls, "prompt_tokens": spent.prompt_tokens,
                    "written_tokens": spent.written_tokens,
                    "model_seconds": round(spent.seconds, 1)}

    @contextmanager
    def _ledger(self) -> Iterator[Ledger]:
        with closing(Ledger(self.directory / KNOWLEDGE_FILE)) as ledger:
            yield ledger

    def _knowledge_builder(self, ledger: Ledger, model: str | None) -> KnowledgeBuilder:
        return KnowledgeBuilder(ledger, create_generator(self.config.generate, model))

    def _prose_chunks(self) -> list[ChunkText]:
        rowids = sorted(self._store.filtered_rowids(Filter(kinds=("prose",))).tolist())
        found: list[ChunkText] = []
        for start in range(0, len(rowids), 1000):
            stored = self._store.chunks(rowids[start:start + 1000])
            found += [ChunkText(rowid, s.chunk.id, s.title, s.chunk.text)
                      for rowid, s in sorted(stored.items())]
        return found

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

    def export_graph(self, path: Path, form: ExportFormat, kind: GraphKind = "concepts"
                     ) -> dict[str, float | int]:
        """Write a graph to ``path`` as GraphML or node-link JSON; returns its size."""
        if kind == "llm":
            knowledge, _ = self.knowledge_graph()
            export_graph(knowledge.graph, knowledge.names, path, form, knowledge.kinds,
                         knowledge.relations)
            return knowledge.facts()
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
            threshold = relevance_threshold(scorer, self._test)
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


def relevance_threshold(scorer: Reranker, test: str) -> float:
    """The score above which ``scorer`` (the relevance test ``test`` names) finds a chunk
    relevant: the local model's log-odds above 0, a cross-encoder's fitted threshold, or a
    probability above a half."""
    if test.startswith("llm"):
        return LLM_THRESHOLD
    if isinstance(scorer, CrossEncoderReranker) and scorer.info.relevance_threshold is not None:
        return scorer.info.relevance_threshold
    return CROSS_THRESHOLD
