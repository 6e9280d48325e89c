"""The public entry points: open a knowledge base, index into it, search it.

This is the one place that wires the stages together.

>>> import lore
>>> kb = lore.open("my-kb")                       # a directory; created when missing
>>> report = kb.index(["docs/", "src/"])
>>> hits = kb.search("how is the cache invalidated", k=5, mode="hybrid", where=["path=src/*"])
>>> hits[0].path, hits[0].chunk.lines, hits[0].scores
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from lore.config import MAX_K, MAX_QUERY_CHARS, GenerateConfig, LoreConfig
from lore.embed.batching import QueryBatcher
from lore.embed.choose import AUTO, ENGLISH, Choice, choose_model
from lore.embed.protocol import Embedder
from lore.embed.registry import create_embedder
from lore.errors import ConfigError, EmbedderMismatch, QueryError, StoreError
from lore.generate.answer import Answerer
from lore.generate.registry import create_generator
from lore.ingest.chunk import chunking_signature
from lore.ingest.sample import sample_prose
from lore.pipeline import IndexListener, IndexRun, SilentListener, embed_missing
from lore.rerank.protocol import Reranker
from lore.rerank.registry import create_reranker
from lore.rerank.reorder import rerank as reorder
from lore.retrieve.dense import DenseRetriever
from lore.retrieve.diversify import mmr
from lore.retrieve.filters import parse_where
from lore.retrieve.fuse import fuse
from lore.retrieve.protocol import Query, RankedList
from lore.retrieve.widen import Widen, widen_span
from lore.store.derived import DerivedIndex, TermFeed, VectorFeed
from lore.store.protocol import Store, VectorIndex
from lore.store.sqlite import STORE_FILE, SqliteStore
from lore.text.analyze import analyze
from lore.types import (
    Answer,
    AnswerMode,
    Filter,
    Hit,
    IndexReport,
    Passage,
    SearchMode,
    Status,
)

Ranking = list[tuple[int, float]]
MODES: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")


def resolve_kb_dir(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """``--kb DIR`` if given, else ``$LORE_HOME``, else ``./.lore``."""
    if explicit is not None:
        return Path(explicit).expanduser()
    return LoreConfig.from_env(environ).kb_dir.expanduser()


def open(path: str | Path | None = None, *, model: str | None = None,
         config: LoreConfig | None = None, switch_model: bool = False,
         create: bool = True) -> KnowledgeBase:
    """Open (or create) the knowledge base in directory ``path``.

    Args:
        path: the knowledge-base directory; default ``$LORE_HOME`` or ``./.lore``.
        model: the embedder to use. ``None`` uses the one the knowledge base was built with
            (or the configured default for a new one); naming a different one is an error.
        config: settings; default ``LoreConfig.from_env(os.environ)``.
        switch_model: accept a ``model`` other than the recorded one, to ``reembed`` with it.
        create: make a new knowledge base when there is none; ``False`` raises a
            ``StoreError`` instead (a mistyped path then says so rather than finding nothing).
    """
    config = config or LoreConfig.from_env(os.environ)
    directory = resolve_kb_dir(path, os.environ) if path is not None else config.kb_dir
    return KnowledgeBase(directory, config, model, switch_model=switch_model, create=create)


class KnowledgeBase:
    """A directory holding the store (``lore.db``) and its derived vector index (``index/``)."""

    def __init__(self, directory: Path, config: LoreConfig, model: str | None = None, *,
                 switch_model: bool = False, create: bool = True) -> None:
        _prepare_directory(directory, create)
        self.directory = directory
        self.config = config
        self._store: Store = SqliteStore(directory / STORE_FILE)
        self._embedder = self._choose_embedder(model, switch_model)
        self._vectors = self._vector_index()
        self._rerankers: dict[str, Reranker] = {}
        self._terms = DerivedIndex(self._store, directory / "index" / "bm25",
                                   TermFeed(self._store))
        self._reading = threading.Lock()
        """Derived indexes catch up with the store inside a search; one search at a time
        reads them, so threads may share a KnowledgeBase to search."""
        self._query_batcher: QueryBatcher | None = None

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

    # -- writing -----------------------------------------------------------------------------

    def index(self, paths: Sequence[str | Path], listener: IndexListener | None = None
              ) -> IndexReport:
        """Index files and folders; unchanged inputs cost nothing, vanished files leave."""
        with self._writer():
            choice = None
            if self._model == AUTO and self._store.get_meta("embedder") is None:
                choice = choose_model(sample_prose([Path(p) for p in paths],
                                                   self.config.ingest))
                self._adopt(choice)
            self._record_embedder()
            signature = chunking_signature(self.config.ingest)
            recorded = self._store.get_meta("chunking")
            # A store from before signatures were recorded has none: chunk it again too.
            reparse = recorded != signature and self._store.document_count() > 0
            run = IndexRun(self._store, self._embedder, self.config.ingest, listener, reparse)
            report = run.run([Path(p) for p in paths])
            if not reparse or set(self._store.file_paths()) <= run.visited:
                self._store.set_meta({"chunking": signature})  # every file is chunked so
            self._save_derived()
        if choice is not None and choice.degraded:
            report = replace(report, warnings=(choice.reason,))
        return report

    def remove(self, paths: Sequence[str | Path]) -> int:
        """Remove every document from these files or folders; returns how many were removed."""
        targets = [str(Path(p).expanduser().resolve()) for p in paths]
        with self._writer():
            known = self._store.file_paths()
            gone = [f for f in known
                    if any(f == t or f.startswith(t.rstrip(os.sep) + os.sep) for t in targets)]
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
        with self._writer():
            meta = {"embedder": self._model, "dimension": str(self._embedder.dim)}
            if any(self._store.get_meta(key) != value for key, value in meta.items()):
                self._vectors.reset()  # first, so no saved copy of the old vectors is loaded
                self._store.switch_embedder(meta)
            count = embed_missing(self._store, self._embedder, listener or SilentListener())
            self._save_derived()
            return count

    # -- reading -----------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, mode: SearchMode | None = None,
               where: Filter | Sequence[str] | None = None,
               diversity: float | None = None, rerank: str | None = None) -> list[Hit]:
        """Ranked hits for ``query``.

        Args:
            query: free text, any language.
            k: how many hits (default from config, 1..1000).
            mode: ``lexical`` (BM25), ``dense`` (embeddings) or ``hybrid`` (both, fused).
            where: a Filter, or expressions such as ``["path=src/*", "type=markdown"]``.
            diversity: maximal marginal relevance, 0..1 (default from config, 0 = off).
            rerank: a reranker spec such as ``llm:qwen-0.5b`` (default from config; ``""``
                for none); it reorders the first ``retrieve.rerank_depth`` hits.
        """
        settings = self.config.retrieve
        k = settings.k if k is None else k
        mode = mode or settings.mode
        diversity = settings.diversity if diversity is None else diversity
        _check_request(query, k, mode, diversity)
        conditions = where if isinstance(where, Filter) else parse_where(where or ())
        n = max(k, settings.candidates)
        allowed = self._allowed(conditions)
        if allowed is not None and allowed.size == 0:
            return []
        # The model runs outside the lock, so concurrent searches share its batches.
        vector = self._embed_query(query) if mode != "lexical" else None
        spec = settings.reranker if rerank is None else rerank
        depth = max(k, settings.rerank_depth) if spec else k
        with self._reading:
            rankings: dict[str, Ranking] = {}
            if mode in ("lexical", "hybrid"):
                rankings["lexical"] = self._search_lexical(query, n, allowed)
            if vector is not None:
                rankings["dense"] = self._search_dense(vector, n, allowed)
            fused = self._fuse(query, rankings, n) if mode == "hybrid" else rankings[mode]
            if diversity > 0:
                fused = self._diversify(fused[:n], k, diversity)
            hits = self._hits(fused[:depth], rankings, mode)
        return reorder(self._reranker(spec), query, hits, k, depth=depth) if spec else hits

    def batch_queries(self, window: float = 0.002, max_batch: int = 32) -> QueryBatcher:
        """Embed the queries of concurrent searches together (a server's many clients)."""
        self._query_batcher = QueryBatcher(self._embedder, window, max_batch)
        return self._query_batcher

    def passages(self, hits: Sequence[Hit], widen: Widen | None = None,
                 sentences: int | None = None) -> list[Passage]:
        """Each hit widened for reading (the answer step): see ``RetrieveConfig.widen``."""
        settings = self.config.retrieve
        how = settings.widen if widen is None else widen
        count = settings.window_sentences if sentences is None else sentences
        texts = self._store.document_texts([hit.chunk.doc_id for hit in hits])
        passages = []
        for hit in hits:
            text = texts.get(hit.chunk.doc_id)
            if text is None:  # removed since the search
                passages.append(Passage(hit, hit.chunk.text, hit.chunk.start, hit.chunk.end))
                continue
            start, end = widen_span(text, hit.chunk, how, count)
            passages.append(Passage(hit, text[start:end], start, end))
        return passages

    def ask(self, question: str, **options: Any) -> Answer:
        """Answer ``question`` from this knowledge base, citing its sources.

        Takes the options of ``ask_stream``.
        """
        answer = None
        for event in self.ask_stream(question, **options):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None  # ask_stream always ends with the Answer
        return answer

    def ask_stream(self, question: str, *, k: int | None = None,
                   mode: AnswerMode | None = None, model: str | None = None,
                   template: str | None = None, where: Filter | Sequence[str] | None = None,
                   settings: GenerateConfig | None = None) -> Iterator[str | Answer]:
        """Answer text as the model writes it, then the final ``Answer``.

        Args:
            question: any language; the answer comes in the question's language.
            k: sources to retrieve (default ``generate.k``).
            mode: ``stuff``, ``rag-sequence`` or ``rag-token`` (default ``generate.mode``).
            model: a generator spec (default ``generate.model``): ``qwen-0.5b``, a ``.gguf``
                path, or ``openai:http://host:port/v1/<model>``.
            template: a prompt template name (``lore.generate.prompt.TEMPLATES``).
            where: metadata filters, as for ``search``.
            settings: every generation setting at once (the arguments above override it).
        """
        started = time.perf_counter()
        settings = settings or self.config.generate
        settings = replace(settings, k=k or settings.k, mode=mode or settings.mode,
                           model=model or settings.model,
                           template=template or settings.template)
        answerer = Answerer(create_generator(settings), settings, self._model)
        hits = self.search(question, k=settings.k, where=where)
        yield from answerer.stream(question, self.passages(hits), started)

    def status(self) -> Status:
        return Status(
            path=str(self.directory), documents=self._store.document_count(),
            chunks=self._store.chunk_count(), vectors=self._store.vector_count(),
            embedder=self._store.get_meta("embedder") or self._model,
            dimension=int(self._store.get_meta("dimension") or self._embedder.dim),
            ann=self._vectors.kind if self._vectors.kind != "none" else self._vectors.saved_kind(),
            store_bytes=self._store.size_bytes(),
            index_bytes=self._vectors.size_bytes() + self._terms.size_bytes(),
            last_update=self._store.get_meta("last_update") or "never",
            schema_version=self._store.schema_version,
            embedder_reason=self._store.get_meta("embedder_reason") or "")

    # -- internals ---------------------------------------------------------------------------

    def _search_lexical(self, query: str, n: int, allowed: np.ndarray | None) -> Ranking:
        index = self._terms.current()
        terms = analyze(query)
        if not terms or len(index) == 0:
            return []
        return _ranking(*index.search(terms, n, allowed))

    def _embed_query(self, query: str) -> np.ndarray:
        if self._query_batcher is not None and self._query_batcher.embedder is self._embedder:
            return self._query_batcher.embed_query(query)
        return self._embedder.embed_query(query)

    def _search_dense(self, vector: np.ndarray, n: int, allowed: np.ndarray | None) -> Ranking:
        index = self._vectors.current()
        if len(index) == 0:
            return []
        return _ranking(*index.search(vector, n, allowed))

    def _allowed(self, conditions: Filter) -> np.ndarray | None:
        """Chunk rowids that pass the filter; None when there is no filter."""
        return self._store.filtered_rowids(conditions) if conditions else None

    def _reranker(self, spec: str) -> Reranker:
        """Rerankers by spec, built once per knowledge base (their models load once)."""
        if spec not in self._rerankers:
            self._rerankers[spec] = create_reranker(spec)
        return self._rerankers[spec]

    def _diversify(self, ranking: Ranking, k: int, diversity: float) -> Ranking:
        keys = np.array([key for key, _ in ranking], dtype=np.int64)
        vectors = self._store.vectors_by_rowid(keys, self._embedder.dim)
        return mmr(ranking, vectors, k, diversity)

    def _save_derived(self) -> None:
        self._vectors.save()
        self._terms.save()
        self._store.trim_changes(min(self._vectors.seq, self._terms.seq))

    def _fuse(self, query: str, rankings: dict[str, Ranking], asked: int) -> Ranking:
        """One ranking from the lexical and dense ones, each asked for ``asked`` hits."""
        settings = self.config.retrieve
        lists = [RankedList("lexical", rankings["lexical"], len(rankings["lexical"]) < asked),
                 RankedList("dense", rankings["dense"])]
        keys = list(dict.fromkeys(key for ranking in lists for key, _ in ranking.ranking))
        kinds = self._store.chunk_kinds(keys) if settings.fusion == "adaptive" else []
        code = sum(1 for kind in kinds if kind == "code") / len(kinds) if kinds else 0.0
        readable = DenseRetriever(self._vectors, self._model == ENGLISH).reads(Query(query))
        return fuse(lists, settings.fusion, readable=[True, readable], code_share=code,
                    lexical_weight=settings.lexical_weight, rrf_k=settings.rrf_k)

    def _hits(self, ranking: Ranking, rankings: dict[str, Ranking], mode: SearchMode
              ) -> list[Hit]:
        rows = self._store.chunks([key for key, _ in ranking])
        positions = {name: {key: (rank, score) for rank, (key, score) in enumerate(r, start=1)}
                     for name, r in rankings.items()}
        hits = []
        for key, score in ranking:
            stored = rows.get(key)
            if stored is None:
                continue  # removed between the two reads
            seen = {name: p[key] for name, p in positions.items() if key in p}
            hits.append(Hit(chunk=stored.chunk, score=score, source=mode, path=stored.path,
                            title=stored.title, doc_key=stored.doc_key,
                            scores={n: s for n, (_, s) in seen.items()},
                            ranks={n: r for n, (r, _) in seen.items()}))
        return hits

    def _vector_index(self) -> DerivedIndex[VectorIndex]:
        return DerivedIndex(self._store, self.directory / "index" / "vectors",
                            VectorFeed(self._store, self._embedder.dim, self.config.index))

    def _choose_embedder(self, model: str | None, switch_model: bool) -> Embedder:
        """The recorded model, else the one asked for. ``auto`` stands for the English model
        until the first ``index`` looks at the text and picks (``lore.embed.choose``)."""
        recorded = self._store.get_meta("embedder")
        wanted = model or recorded or self.config.embed.model
        if wanted == AUTO and recorded:
            wanted = recorded
        if recorded and wanted != recorded and not switch_model:
            raise EmbedderMismatch(
                f"knowledge base {self.directory} was embedded with {recorded!r}; you asked for "
                f"{wanted!r}. Use --model {recorded}, or re-embed everything with "
                f"`lore reembed --model {wanted} --kb {self.directory}`")
        self._model = wanted
        self._model_reason = "chosen" if model else "configured"
        return create_embedder(replace(self.config.embed,
                                       model=ENGLISH if wanted == AUTO else wanted))

    def _adopt(self, choice: Choice) -> None:
        """Switch a still-empty knowledge base to the model ``auto`` chose."""
        self._model, self._model_reason = choice.model, choice.reason
        self._embedder = create_embedder(replace(self.config.embed, model=choice.model))
        self._vectors = self._vector_index()

    def _record_embedder(self) -> None:
        if self._store.get_meta("embedder") is None:
            model = ENGLISH if self._model == AUTO else self._model
            self._store.set_meta({"embedder": model, "dimension": str(self._embedder.dim),
                                  "embedder_reason": self._model_reason})

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """One writer per knowledge base; readers never wait for it."""
        self._store.require_writable()
        with (self.directory / ".write.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"another lore process is writing to {self.directory}; "
                                 "wait for it to finish and try again") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare_directory(directory: Path, create: bool) -> None:
    """Make sure ``directory`` can hold a knowledge base, creating it when ``create``."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"knowledge base path {directory} is a file; point --kb (or "
                          "LORE_HOME) at a directory, which lore creates when missing")
    if not create and not (directory / STORE_FILE).exists():
        raise StoreError(f"no knowledge base at {directory}: check the path (--kb or "
                         f"LORE_HOME), or build one with `lore index PATH --kb {directory}`")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the knowledge base folder {directory}: "
                          f"{exc.strerror}; point --kb (or LORE_HOME) at a folder you may "
                          "write") from None


def _ranking(keys: np.ndarray, scores: np.ndarray) -> Ranking:
    return [(int(key), float(score)) for key, score in zip(keys, scores, strict=True)]


def _check_request(query: str, k: int, mode: str, diversity: float) -> None:
    if not query or not query.strip():
        raise QueryError("the query is empty; pass some text to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query has {len(query):,} characters; the limit is "
                         f"{MAX_QUERY_CHARS:,}. Shorten it or search a key passage")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k={k} is out of range; choose 1..{MAX_K}")
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if not 0.0 <= diversity <= 1.0:
        raise QueryError(f"diversity={diversity} is out of range; choose 0..1 (0 = off)")

