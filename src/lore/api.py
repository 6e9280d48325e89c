"""The public entry points: open a knowledge base, index into it, search it, ask it.

This is the one place that wires the stages together: the store and its derived indexes,
the embedder, the retrievers (``lore.retrieve``), the rerankers and the answer step.

>>> import lore
>>> kb = lore.open("my-kb")                       # a directory; created when missing
>>> report = kb.index(["docs/", "src/"])
>>> hits = kb.search("how is the cache invalidated", k=5, mode="hybrid", where=["path=src/*"])
>>> hits[0].path, hits[0].chunk.lines, hits[0].scores
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from lore._native import release_freed_memory
from lore.config import MAX_K, GenerateConfig, IngestConfig, LoreConfig
from lore.directory import (
    files_under,
    open_store,
    prepare_directory,
    resolve_kb_dir,
    writer_lock,
)
from lore.embed.batching import QueryBatcher
from lore.embed.choose import AUTO, ENGLISH, Choice, choose_model, wanted_model
from lore.embed.protocol import Embedder
from lore.embed.registry import create_embedder, embedder_entry
from lore.generate.answer import Answerer
from lore.generate.registry import create_generator
from lore.ingest.chunk import chunking_signature
from lore.ingest.sample import sample_prose
from lore.kb_graph import Graphing
from lore.kb_learning import Learning
from lore.kb_query import Asking
from lore.models.load import usable_cores
from lore.pipeline import IndexListener, IndexRun, SilentListener, StoredRoot, embed_missing
from lore.rag_training import RagSystem
from lore.rerank.heads import ScoringHead, load_head
from lore.rerank.protocol import Reranker
from lore.rerank.registry import create_reranker
from lore.rerank.reorder import rerank as reorder
from lore.retrieve.registry import RetrieverSources, create_retrievers
from lore.retrieve.search import SEARCH_MODES, Searcher, search_request
from lore.retrieve.tuning import Tuning
from lore.retrieve.widen import Widen, widen_hits
from lore.status import kb_status
from lore.store.ann import missing_ann_warning
from lore.store.derived import ConceptFeed, DerivedIndex, TermFeed, VectorFeed
from lore.store.protocol import Store, VectorIndex
from lore.train.catalog import Catalog, check_head_vectors, trained_name
from lore.types import Filter, Hit, IndexReport, Passage, SearchMode, Status

if TYPE_CHECKING:
    from lore.ray_ingest import RaySettings

MODES = SEARCH_MODES

__all__ = ["MODES", "KnowledgeBase", "open", "resolve_kb_dir"]


def open(path: str | Path | None = None, *, model: str | None = None,
         config: LoreConfig | None = None, switch_model: bool = False,
         create: bool = True, store: str | None = None) -> KnowledgeBase:
    """Open (or create) the knowledge base in directory ``path``.

    Args:
        path: the knowledge-base directory; default ``$LORE_HOME`` or ``./.lore``.
        model: the embedder to use. ``None`` uses the one the knowledge base was built with
            (or the configured default for a new one); naming a different one is an error.
        config: settings; default ``LoreConfig.from_env(os.environ)``.
        switch_model: accept a ``model`` other than the recorded one, to ``reembed`` with it.
        create: make a new knowledge base when there is none; ``False`` raises a
            ``StoreError`` instead (a mistyped path then says so rather than finding nothing).
        store: a ``postgresql://`` URL to keep the documents in (default ``config.store``);
            the directory then holds only what is derived from them. Recorded on first use.
    """
    config = config or LoreConfig.from_env(os.environ)
    if store is not None:
        config = replace(config, store=store)
    directory = resolve_kb_dir(path, os.environ) if path is not None else config.kb_dir
    return KnowledgeBase(directory, config, model, switch_model=switch_model, create=create)


class KnowledgeBase(Learning, Graphing, Asking):
    """A directory holding the store (``lore.db``, or the URL of a database that holds it) and
    its derived indexes (``index/``)."""

    def __init__(self, directory: Path, config: LoreConfig, model: str | None = None, *,
                 switch_model: bool = False, create: bool = True) -> None:
        prepare_directory(directory, create)
        self.directory = directory
        self.config = config
        self._store: Store = open_store(directory, config.store)
        self._terms = DerivedIndex(self._store, directory / "index" / "bm25",
                                   TermFeed(self._store))
        self._concept_feed = ConceptFeed(self._store,
                                         config.index.concept_workers or usable_cores())
        self._concepts = DerivedIndex(self._store, directory / "index" / "concepts",
                                      self._concept_feed)
        self._model, self._model_reason = wanted_model(
            self._store.get_meta("embedder"), model, config.embed.model, switch_model, directory)
        self._reranker: Callable[[str], Reranker] = functools.cache(create_reranker)
        """Rerankers by spec, built once per knowledge base (their models load once)."""
        self._heads: Callable[[Path], ScoringHead] = functools.cache(load_head)
        self._query_batcher: QueryBatcher | None = None
        self._tuning = Tuning.from_json(self._store.get_meta("tuning"))
        self._catalog = Catalog(directory, lambda: self._store.get_meta("kb_id"))
        self._use_embedder(create_embedder(replace(config.embed,
                                                   model=self._embedder_source(self._model))))

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def stale(self) -> bool:
        """True when another writer recorded an embedder other than this object's (``auto``
        chose one, or ``reembed`` switched): reopen to search with it."""
        recorded = self._store.get_meta("embedder")
        return recorded is not None and recorded != self._model

    def indexed_files(self) -> set[str]:
        """Paths of every file the store holds documents of."""
        return set(self._store.file_paths())

    def index(self, paths: Sequence[str | Path], listener: IndexListener | None = None, *,
              stored_as: StoredRoot | None = None, ray: RaySettings | None = None,
              keep_derived: bool = True) -> IndexReport:
        """Index files and folders; unchanged inputs cost nothing, vanished files leave.
        ``stored_as`` names the files under one folder as the store should know them; ``ray``
        parses, chunks and embeds them on a Ray cluster (``lore.ray_ingest``).
        ``keep_derived=False`` drops each derived index from memory once it is saved, so the
        run holds one at a time (for a process that indexes and exits); the next search loads
        them again."""
        roots = [Path(p) for p in paths]
        with self._writing():
            choice = self._choose_model(roots)
            report = _index_run(self._store, self.config.ingest, roots,
                                self._new_run(listener, stored_as, ray))
            self._save_derived(listener, keep=keep_derived)
        warnings = [choice.reason] if choice is not None and choice.degraded else []
        ann = missing_ann_warning(self._store.vector_count(), self.config.index)
        return replace(report, warnings=tuple(warnings + ([ann] if ann else [])))

    def remove(self, paths: Sequence[str | Path]) -> int:
        """Remove every document from these files or folders; returns how many were removed."""
        with self._writing():
            gone = files_under(self._store.file_paths(), paths)
            before = self._store.document_count()
            if gone:
                self._store.write([], removed_files=gone)
                self._store.drop_orphan_vectors()
                self._save_derived()
            return before - self._store.document_count()

    def reembed(self, listener: IndexListener | None = None) -> int:
        """Embed every chunk again with this knowledge base's embedder; returns views embedded.

        Interrupted, it resumes: the next ``index`` or ``reembed`` embeds only what is missing,
        as the store already records this embedder and keeps the vectors made with it.
        """
        with self._writing():
            meta = {"embedder": self._model, "dimension": str(self._embedder.dim)}
            if any(self._store.get_meta(key) != value for key, value in meta.items()):
                self._vectors.reset()  # first, so no saved copy of the old vectors is loaded
                self._store.switch_embedder(meta)
            count = embed_missing(self._store, self._embedder, listener or SilentListener())
            self._save_derived()
            return count

    def search(self, query: str, k: int | None = None, mode: SearchMode | None = None,
               where: Filter | Sequence[str] | None = None, diversity: float | None = None,
               rerank: str | None = None, retrievers: Sequence[str] | None = None,
               query_encoder: str | Embedder | None = None) -> list[Hit]:
        """Ranked hits for ``query``, each with every retriever's score and rank.

        Args:
            query: free text, any language.
            k: how many hits (default from config, 1..1000).
            mode: ``lexical`` (BM25), ``dense`` (embeddings) or ``hybrid`` (both, fused).
            where: a Filter, or expressions such as ``["path=src/*", "type=markdown"]``.
            diversity: maximal marginal relevance, 0..1 (default from config, 0 = off).
            rerank: a reranker spec such as ``llm:qwen-0.5b`` (default from config; ``""``
                for none); it reorders the first ``retrieve.rerank_depth`` hits.
            retrievers: the retrievers to run and fuse, by name (``lore.retrieve.registry``);
                overrides ``mode``.
            query_encoder: embeds the query for dense search in place of the embedder: a
                trained RAG system's spec (``trained:<name>``, from ``lore train rag``), or an
                embedder whose query vectors share the stored vectors' space.
        """
        settings = self.config.retrieve
        spec = settings.reranker if rerank is None else rerank
        request = search_request(settings, query, k, mode, where, diversity, retrievers, spec)
        if query_encoder is not None:
            encoder = (self.rag_system(query_encoder).encoder
                       if isinstance(query_encoder, str) else query_encoder)
            request = replace(request, embed_query=encoder.embed_query)
        if not spec:
            return self._searcher.search(request)
        scorer = self._reranking(spec)
        if isinstance(scorer, ScoringHead):  # rescores from the stored vectors
            return self._searcher.search(replace(request, rescore=scorer))[:request.k]
        return reorder(scorer, query, self._searcher.search(request), request.k,
                       depth=request.depth)

    def batch_queries(self, window: float = 0.002, max_batch: int = 32) -> QueryBatcher:
        """Embed the queries of concurrent searches together (a server's many clients)."""
        self._query_batcher = QueryBatcher(self._embedder, window, max_batch)
        return self._query_batcher

    def passages(self, hits: Sequence[Hit], widen: Widen | None = None,
                 sentences: int | None = None) -> list[Passage]:
        """Each hit widened for reading (the answer step): see ``RetrieveConfig.widen``."""
        settings = self.config.retrieve
        texts = self._store.document_texts([hit.chunk.doc_id for hit in hits])
        return widen_hits(hits, texts, settings.widen if widen is None else widen,
                          settings.window_sentences if sentences is None else sentences)

    def answerer(self, settings: GenerateConfig, query_encoder: Embedder | None = None
                 ) -> Answerer:
        """The answer step for ``settings``, with the relevance floor of this embedder; hits
        that another ``query_encoder`` found are gated on this embedder's cosines, the scale
        its floor was calibrated on."""
        gate = None if query_encoder in (None, self._embedder) else self._embedder_cosines
        return Answerer(create_generator(settings), settings,
                        relevance_floor=self._relevance_floor(), gate_scores=gate)

    def _embedder_cosines(self, question: str, passages: Sequence[Passage]) -> list[float]:
        """The embedder's cosine of ``question`` with each passage's stored chunk vector;
        passages whose chunk is gone meanwhile are left out."""
        rowids = self._store.chunk_rowids([passage.hit.chunk.id for passage in passages])
        keys = np.array([rowids[p.hit.chunk.id] for p in passages if p.hit.chunk.id in rowids],
                        dtype=np.int64)
        if keys.size == 0:
            return []
        vectors = self._store.vectors_by_rowid(keys, self._embedder.dim)
        cosines: np.ndarray = vectors @ self._embed_query(question)  # inner product, as searched
        return [float(value) for value in cosines]

    def status(self) -> Status:
        state = kb_status(self.directory, self._store, self._vectors, self._terms,
                          self._concepts, self._model, self._embedder.dim)
        return replace(state, knowledge=self.knowledge_cost())

    def _relevance_floor(self) -> float | None:
        """The dense similarity under which nothing is relevant, calibrated per embedder."""
        entry = embedder_entry(_runnable(self._model))
        return entry.relevance_floor if entry is not None else None

    def _ranking(self, text: str, depth: int, retrievers: Sequence[str]
                 ) -> list[tuple[int, float]]:
        """(chunk rowid, fused score) for ``text``, best first, ``depth`` at most."""
        request = search_request(self.config.retrieve, text, min(depth, MAX_K), None, None, 0.0,
                                 retrievers, "")
        return self._searcher.ranking(replace(request, depth=depth))

    def _hits_of(self, rowids: Sequence[int]) -> dict[int, Hit]:
        return self._searcher.hits_of([(rowid, 0.0) for rowid in rowids], "graph")

    def _use_embedder(self, embedder: Embedder) -> None:
        """Bind the embedder, its vector index and the retrievers reading both."""
        self._embedder = embedder
        self._rag_systems: dict[str, RagSystem] = {}  # each checked against this embedder
        self._vectors: DerivedIndex[VectorIndex] = DerivedIndex(
            self._store, self.directory / "index" / "vectors",
            VectorFeed(self._store, embedder.dim, self.config.index))
        sources = RetrieverSources(self._store, self._terms, self._vectors,
                                   self._reads_latin_only(self._model), lambda: self._tuning,
                                   self._concepts)
        self._searcher = Searcher(create_retrievers(sources), self._store, self.config.retrieve,
                                  self._embed_query, embedder.dim, lambda: self._tuning)

    def _embedder_source(self, model: str) -> str:
        """What ``create_embedder`` builds ``model`` from: a trained retriever's folder."""
        return str(self._catalog.folder(model, "retriever") or _runnable(model))

    def _reranking(self, spec: str) -> Reranker | ScoringHead:
        """The reranker, or the trained scoring head, that ``spec`` names."""
        if trained_name(spec) is None:
            return self._reranker(spec)
        model = self._catalog.model(spec, "reranker", "head")
        if model.kind == "head":
            check_head_vectors(model, self._store.get_meta("embedder") or self._model)
            return self._heads(model.model_dir)
        return self._reranker(f"cross-encoder:{model.model_dir}")

    def _reads_latin_only(self, model: str) -> bool:
        """A trained embedder reads what the model it was trained from reads."""
        entry = embedder_entry(_runnable(self._catalog.untrained_base(model)))
        return entry is not None and entry.latin_only

    def _embed_query(self, query: str) -> np.ndarray:
        if self._query_batcher is not None and self._query_batcher.embedder is self._embedder:
            return self._query_batcher.embed_query(query)
        return self._embedder.embed_query(query)

    def _new_run(self, listener: IndexListener | None, stored_as: StoredRoot | None,
                 ray: RaySettings | None) -> IndexRun:
        """An index run; every file is chunked again when the chunker changed since the last
        (a store from before signatures were recorded has none)."""
        ingest = self.config.ingest
        reparse = (self._store.get_meta("chunking") != chunking_signature(ingest)
                   and self._store.document_count() > 0)
        if ray is None:
            return IndexRun(self._store, self._embedder, ingest, listener, reparse, stored_as)
        from lore.ray_ingest import RayIndexRun

        embed = replace(self.config.embed, model=self._embedder_source(self._model))
        return RayIndexRun(self._store, self._embedder, ingest, listener, reparse, stored_as,
                           settings=ray, embed_config=embed)

    def _choose_model(self, roots: Sequence[Path]) -> Choice | None:
        """On the first ``index`` of ``auto``, pick the embedder from the text (a still-empty
        knowledge base switches to it); record the embedder in use. Returns auto's choice."""
        if self._store.get_meta("embedder") is not None:
            return None
        choice = choose_model(sample_prose(roots, self.config.ingest)) \
            if self._model == AUTO else None
        if choice is not None:
            self._model, self._model_reason = choice.model, choice.reason
            self._use_embedder(create_embedder(replace(self.config.embed, model=choice.model)))
        self._store.set_meta({"embedder": _runnable(self._model), "embedder_reason":
                              self._model_reason, "dimension": str(self._embedder.dim)})
        return choice

    def _save_derived(self, listener: IndexListener | None = None, keep: bool = True) -> None:
        saved: list[DerivedIndex[Any]] = [self._vectors, self._terms]
        if self.config.index.concepts == "index":
            saved.append(self._concepts)
        self._concept_feed.report = listener.on_concepts if listener is not None else None
        try:
            for index in saved:
                release_freed_memory()  # what embedding or the last build freed, first
                if keep:
                    index.save()
                else:
                    index.write()
        finally:
            self._concept_feed.report = None
        self._store.trim_changes(min(index.seq for index in saved))

    def _writing(self) -> AbstractContextManager[None]:
        self._store.require_writable()
        return writer_lock(self.directory)


def _index_run(store: Store, ingest: IngestConfig, roots: Sequence[Path], run: IndexRun
               ) -> IndexReport:
    """``run`` over ``roots``, recording the chunker it chunked every file with."""
    report = run.run(roots)
    if not run.reparse or set(store.file_paths()) <= run.visited:
        store.set_meta({"chunking": chunking_signature(ingest)})  # every file is chunked so
    return report


def _runnable(model: str) -> str:
    return ENGLISH if model == AUTO else model
