"""The knowledge base's learning side, as methods of ``KnowledgeBase``: its identity, its
trained models, the retrieval parameters it fits, and training from its own data
(``lore.learning``, ``lore.fitting``, ``lore.synthesis`` do the work)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from lore.config import LoreConfig
from lore.embed.choose import ENGLISH
from lore.embed.registry import create_embedder
from lore.learning import (
    HEAD_TRAINING,
    RERANKER_TRAINING,
    Training,
    TrainListener,
    train_head,
    train_reranker,
    train_retriever,
)
from lore.rag_joint import train_generator_system
from lore.rag_training import RagSystem, RagTraining, load_rag_system, train_rag
from lore.rerank.heads import HeadKind
from lore.retrieve.tuning import Tuning
from lore.routing import train_router
from lore.store.protocol import Store
from lore.train.catalog import Catalog, TrainedModel, trained_name
from lore.train.pairs import PairSet
from lore.train.qa_split import QAExample
from lore.types import Chunk, Filter

if TYPE_CHECKING:
    from lore.api import KnowledgeBase


class Learning:
    """Mixed into ``KnowledgeBase``, whose state these methods read."""

    directory: Path
    config: LoreConfig
    _store: Store
    _catalog: Catalog
    _tuning: Tuning
    _rag_systems: dict[str, RagSystem]

    def _writing(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    @property
    def _kb(self) -> KnowledgeBase:
        return cast("KnowledgeBase", self)

    def identity(self) -> str:
        """The identity its trained models record (made on first use), so that a model
        trained for one knowledge base is never used by another unasked."""
        known = self._store.get_meta("kb_id")
        if known is None:
            with self._writing():
                known = self._store.get_meta("kb_id") or uuid.uuid4().hex
                self._store.set_meta({"kb_id": known})
        return known

    @property
    def tuning(self) -> Tuning:
        """The retrieval parameters searches use now (``tune`` sets them)."""
        return self._tuning

    def tune(self, tuning: Tuning, save: bool = False) -> None:
        """Search with ``tuning`` from now on; ``save`` records it for every later opening."""
        if save:
            with self._writing():
                self._store.set_meta({"tuning": tuning.to_json()})
        self._tuning = tuning

    def sample_chunks(self, count: int, seed: int = 0,
                      keep: Callable[[Chunk], bool] | None = None) -> list[Chunk]:
        """Up to ``count`` chunks (those ``keep`` accepts), in an order fixed by ``seed``: a
        larger ``count`` extends the same draw."""
        rowids = self._store.filtered_rowids(Filter()).tolist()
        random.Random(seed).shuffle(rowids)
        chunks: list[Chunk] = []
        for start in range(0, len(rowids), 1000):
            batch = rowids[start:start + 1000]
            stored = self._store.chunks(batch)
            chunks += [stored[r].chunk for r in batch
                       if r in stored and (keep is None or keep(stored[r].chunk))]
            if len(chunks) >= count:
                break
        return chunks[:count]

    def models(self) -> list[TrainedModel]:
        """The models trained for this knowledge base (``lore.train.catalog``)."""
        return self._catalog.list()

    def train_retriever(self, pairs: PairSet, training: Training | None = None,
                        listener: TrainListener | None = None) -> TrainedModel:
        """Fine-tune this knowledge base's embedder on ``pairs`` (see
        ``lore.learning.train_retriever``); ``reembed`` with the result's ``spec`` to use it."""
        return train_retriever(self._kb, pairs, training or Training(), listener)

    def train_head(self, pairs: PairSet, kind: HeadKind = "interactive",
                   training: Training | None = None, listener: TrainListener | None = None
                   ) -> TrainedModel:
        """Train a scoring head over the stored vectors (``lore.learning.train_head``)."""
        return train_head(self._kb, pairs, training or HEAD_TRAINING, kind, listener)

    def train_router(self, traces: Sequence[Path], held_out: float = 0.2) -> TrainedModel:
        """Train the router ``auto`` may use (``query.router``) from ``lore eval qa`` traces
        of several strategies over the same questions (``lore.routing``)."""
        return train_router(self._kb, traces, held_out)

    def train_reranker(self, pairs: PairSet, training: Training | None = None,
                       base: str = ENGLISH, listener: TrainListener | None = None
                       ) -> TrainedModel:
        """Train a cross-encoder on ``pairs`` from ``base`` (the shipped MiniLM's weights, a
        trained reranker or a transformer directory); search with ``rerank=model.spec``."""
        if trained_name(base) is not None:
            folder = self._catalog.model(base, "reranker").model_dir
        else:
            folder = Path(getattr(create_embedder(replace(self.config.embed, model=base)),
                                  "model_dir", base))
        return train_reranker(self._kb, pairs, training or RERANKER_TRAINING, folder, base,
                              listener)

    def train_rag(self, examples: Sequence[QAExample], origin: str,
                  excluded: frozenset[str] = frozenset(), training: RagTraining | None = None,
                  listener: TrainListener | None = None) -> TrainedModel:
        """Train the query encoder from the answering model's judgement of each retrieved
        passage (``lore.rag_training``), or with ``training.train`` ``joint`` or
        ``generator`` the answering model too (``lore.rag_joint``), never reading the
        ``excluded`` documents; ask with ``model=result.spec``."""
        training = training or RagTraining()
        if training.train != "query-encoder":
            return train_generator_system(self._kb, examples, origin, excluded, training,
                                          listener)
        return train_rag(self._kb, examples, origin, excluded, training, listener)

    def rag_system(self, spec: str) -> RagSystem:
        """The trained RAG system ``spec`` (``trained:<name>``) names, loaded once."""
        if spec not in self._rag_systems:
            model = self._catalog.model(spec, "rag")
            self._rag_systems[spec] = load_rag_system(
                self._kb, model, self._store.get_meta("embedder") or "")
        return self._rag_systems[spec]

