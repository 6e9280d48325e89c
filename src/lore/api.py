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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import numpy as np

from lore.config import MAX_K, MAX_QUERY_CHARS, LoreConfig
from lore.embed.protocol import Embedder
from lore.embed.registry import create_embedder
from lore.errors import ConfigError, EmbedderMismatch, QueryError, StoreError
from lore.pipeline import IndexListener, IndexRun, SilentListener, embed_missing
from lore.retrieve.analyze import analyze
from lore.retrieve.filters import parse_where
from lore.retrieve.fuse import fuse_rrf, fuse_weighted
from lore.store.derived import DerivedIndex, TermFeed, VectorFeed
from lore.store.sqlite import STORE_FILE, SqliteStore, where_clause
from lore.types import Filter, Hit, IndexReport, SearchMode, Status

Ranking = list[tuple[int, float]]
MODES: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")


def resolve_kb_dir(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """``--kb DIR`` if given, else ``$LORE_HOME``, else ``./.lore``."""
    if explicit is not None:
        return Path(explicit).expanduser()
    return LoreConfig.from_env(environ).kb_dir.expanduser()


def open(path: str | Path | None = None, *, model: str | None = None,
         config: LoreConfig | None = None, switch_model: bool = False) -> KnowledgeBase:
    """Open (or create) the knowledge base in directory ``path``.

    Args:
        path: the knowledge-base directory; default ``$LORE_HOME`` or ``./.lore``.
        model: the embedder to use. ``None`` uses the one the knowledge base was built with
            (or the configured default for a new one); naming a different one is an error.
        config: settings; default ``LoreConfig.from_env(os.environ)``.
        switch_model: accept a ``model`` other than the recorded one, to ``reembed`` with it.
    """
    config = config or LoreConfig.from_env(os.environ)
    directory = resolve_kb_dir(path, os.environ) if path is not None else config.kb_dir
    return KnowledgeBase(directory, config, model, switch_model=switch_model)


class KnowledgeBase:
    """A directory holding the store (``lore.db``) and its derived vector index (``index/``)."""

    def __init__(self, directory: Path, config: LoreConfig, model: str | None = None, *,
                 switch_model: bool = False) -> None:
        if directory.exists() and not directory.is_dir():
            raise ConfigError(f"knowledge base path {directory} is a file; point --kb (or "
                              "LORE_HOME) at a directory, which lore creates when missing")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.config = config
        self._store = SqliteStore(directory / STORE_FILE)
        self._embedder = self._choose_embedder(model, switch_model)
        self._vectors = DerivedIndex(self._store, directory / "index" / "vectors",
                                     VectorFeed(self._store, self._embedder.dim, config.index))
        self._terms = DerivedIndex(self._store, directory / "index" / "bm25",
                                   TermFeed(self._store))

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

    # -- writing -----------------------------------------------------------------------------

    def index(self, paths: Sequence[str | Path], listener: IndexListener | None = None
              ) -> IndexReport:
        """Index files and folders; unchanged inputs cost nothing, vanished files leave."""
        with self._writer():
            self._record_embedder()
            run = IndexRun(self._store, self._embedder, self.config.ingest, listener)
            report = run.run([Path(p) for p in paths])
            self._save_derived()
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

        Interrupted, it resumes: the next ``index`` or ``reembed`` embeds what is missing.
        """
        with self._writer():
            self._vectors.reset()  # first, so no saved copy of the old vectors can be loaded
            self._store.switch_embedder({"embedder": self._model,
                                         "dimension": str(self._embedder.dim)})
            count = embed_missing(self._store, self._embedder, listener or SilentListener())
            self._save_derived()
            return count

    # -- reading -----------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, mode: SearchMode | None = None,
               where: Filter | Sequence[str] | None = None) -> list[Hit]:
        """Ranked hits for ``query``.

        Args:
            query: free text, any language.
            k: how many hits (default from config, 1..1000).
            mode: ``lexical`` (BM25), ``dense`` (embeddings) or ``hybrid`` (both, fused).
            where: a Filter, or expressions such as ``["path=src/*", "type=markdown"]``.
        """
        settings = self.config.retrieve
        k = settings.k if k is None else k
        mode = mode or settings.mode
        _check_request(query, k, mode)
        conditions = where if isinstance(where, Filter) else parse_where(where or ())
        n = max(k, settings.candidates)
        allowed = self._allowed(conditions)
        if allowed is not None and allowed.size == 0:
            return []
        rankings: dict[str, Ranking] = {}
        if mode in ("lexical", "hybrid"):
            rankings["lexical"] = self._search_lexical(query, n, allowed)
        if mode in ("dense", "hybrid"):
            rankings["dense"] = self._search_dense(query, n, allowed)
        fused = self._fuse(rankings) if mode == "hybrid" else rankings[mode]
        return self._hits(fused[:k], rankings, mode)

    def status(self) -> Status:
        return Status(
            path=str(self.directory), documents=self._store.document_count(),
            chunks=self._store.chunk_count(), vectors=self._store.vector_count(),
            embedder=self._store.get_meta("embedder") or self._model,
            dimension=int(self._store.get_meta("dimension") or self._embedder.dim),
            ann=self._vectors.kind if self._vectors.kind != "none" else self._saved_ann_kind(),
            store_bytes=self._store.size_bytes(),
            index_bytes=self._vectors.size_bytes() + self._terms.size_bytes(),
            last_update=self._store.get_meta("last_update") or "never",
            schema_version=self._store.schema_version)

    # -- internals ---------------------------------------------------------------------------

    def _search_lexical(self, query: str, n: int, allowed: np.ndarray | None) -> Ranking:
        index = self._terms.current()
        terms = analyze(query)
        if not terms or len(index) == 0:
            return []
        return _ranking(*index.search(terms, n, allowed))

    def _search_dense(self, query: str, n: int, allowed: np.ndarray | None) -> Ranking:
        index = self._vectors.current()
        if len(index) == 0:
            return []
        return _ranking(*index.search(self._embedder.embed_query(query), n, allowed))

    def _allowed(self, conditions: Filter) -> np.ndarray | None:
        """Chunk rowids that pass the filter; None when there is no filter."""
        return self._store.filtered_rowids(where_clause(conditions)) if conditions else None

    def _save_derived(self) -> None:
        self._vectors.save()
        self._terms.save()
        self._store.trim_changes(min(self._vectors.seq, self._terms.seq))

    def _fuse(self, rankings: dict[str, Ranking]) -> Ranking:
        settings = self.config.retrieve
        lists = [rankings["lexical"], rankings["dense"]]
        if settings.fusion == "rrf":
            return fuse_rrf(lists, k=settings.rrf_k)
        return fuse_weighted(lists, [settings.lexical_weight, 1.0 - settings.lexical_weight])

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

    def _choose_embedder(self, model: str | None, switch_model: bool) -> Embedder:
        recorded = self._store.get_meta("embedder")
        wanted = model or recorded or self.config.embed.model
        if recorded and wanted != recorded and not switch_model:
            raise EmbedderMismatch(
                f"knowledge base {self.directory} was embedded with {recorded!r}; you asked for "
                f"{wanted!r}. Use --model {recorded}, or re-embed everything with "
                f"`lore reembed --model {wanted} --kb {self.directory}`")
        self._model = wanted
        return create_embedder(replace(self.config.embed, model=wanted))

    def _record_embedder(self) -> None:
        if self._store.get_meta("embedder") is None:
            self._store.set_meta({"embedder": self._model, "dimension": str(self._embedder.dim)})

    def _saved_ann_kind(self) -> str:
        pointer = self.directory / "index" / "vectors" / "CURRENT"
        return pointer.read_text().split("-", 1)[-1].strip() if pointer.exists() else "none"

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """One writer per knowledge base; readers never wait for it."""
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


def _ranking(keys: np.ndarray, scores: np.ndarray) -> Ranking:
    return [(int(key), float(score)) for key, score in zip(keys, scores, strict=True)]


def _check_request(query: str, k: int, mode: str) -> None:
    if not query or not query.strip():
        raise QueryError("the query is empty; pass some text to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query has {len(query):,} characters; the limit is "
                         f"{MAX_QUERY_CHARS:,}. Shorten it or search a key passage")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k={k} is out of range; choose 1..{MAX_K}")
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")

