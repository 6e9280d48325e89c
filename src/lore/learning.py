"""Training a knowledge base's own models from its data (``KnowledgeBase.train_retriever``).

This wires ``lore.train`` to a knowledge base: its search mines hard negatives and builds the
held-out pool, its embedder is the model training starts from, and the result is published
into its catalog (``lore.train.catalog``) with the metrics before and after.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from lore.embed.prompts import record_text_form
from lore.embed.protocol import Embedder
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError
from lore.rerank.cross_encoder import CrossEncoderReranker, save_relevance_threshold
from lore.rerank.heads import HeadKind, save_head
from lore.train.catalog import (
    ModelKind,
    TrainedModel,
    TrainingData,
    check_name,
    next_name,
    publish,
    staging_dir,
)
from lore.train.held_out import (
    Pool,
    build_pool,
    cosine,
    fit_threshold,
    pool_scores,
    ranking_metrics,
    rankings,
    score_embedder,
    score_vectors,
    split_by_query,
)
from lore.train.negatives import Mining, mine_negatives, overlaps
from lore.train.pairs import MIN_PAIRS, Pair, PairSet
from lore.train.settings import TrainSettings

if TYPE_CHECKING:
    from lore.api import KnowledgeBase
    from lore.train.checkpoint import Checkpoint
    from lore.train.heads import VectorExample

LOCATE_WORDS = 64
"""A positive is looked up by lexical search for its first words."""
POOL_DEPTH = 30
"""Search results per held-out query added to its pool."""


class TrainListener(Protocol):
    """Told what training is doing, for a progress bar."""

    def stage(self, description: str, total: int | None = None) -> None: ...

    def advance(self, done: int, note: str = "") -> None: ...


class SilentTraining:
    def stage(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, done: int, note: str = "") -> None:
        pass


@dataclass(frozen=True)
class Training:
    """How ``train_retriever`` and ``train_reranker`` train."""

    settings: TrainSettings = field(default_factory=TrainSettings)
    mining: Mining | None = field(default_factory=lambda: Mining(count=1))
    """Hard negatives from the knowledge base's hybrid search; None: only the pairs' own
    (and, for a retriever, in-batch ones)."""
    held_out: float = 0.1
    """Share of the queries kept out of training to measure before and after."""
    name: str | None = None
    """The model's name in the catalog; default ``<kind>-<n>``."""
    skip_missing: bool = False
    """Train without the pairs whose positive is not in the knowledge base, instead of
    refusing them."""
    checkpoint_every: int = 20


RERANKER_TRAINING = Training(TrainSettings(loss="listwise", batch_size=16, learning_rate=1e-4,
                                           head_learning_rate=1e-3), Mining(count=3))
"""A reranker's defaults: three mined negatives a pair, 16 groups a batch, and rates that
let a new head learn from a few hundred queries (at BERT's usual 3e-5 the loss of a
SciFact epoch stayed at the prior's; ``docs/training.md``)."""
HEAD_TRAINING = Training(TrainSettings(epochs=10, batch_size=64, learning_rate=1e-3),
                         Mining(count=3))
"""A scoring head's defaults: it trains on vectors alone, so many cheap epochs."""


@dataclass(frozen=True)
class Prepared:
    """Pairs ready to train on, and what the result is measured against."""

    name: str
    kb_id: str
    train: PairSet
    held_out: int
    pool: Pool


def prepare(kb: KnowledgeBase, pairs: PairSet, training: Training, kind: ModelKind,
            listener: TrainListener) -> Prepared:
    """Name the model, find the positives, hold queries out, mine negatives, build the pool."""
    name = check_name(kb.directory, training.name) if training.name else \
        next_name(kb.directory, kind)
    views: dict[str, str] = {}
    kept = located(kb, pairs, training.skip_missing, listener, views)
    split = split_by_query(kept, training.held_out, training.settings.seed)
    train = mined(kb, split.train, training.mining, listener, views)
    found = found_for(kb, split.held_out, listener, views)
    pool = build_pool(as_views(split.held_out, views),
                      {query: [views.get(t, t) for t in texts] for query, texts in found.items()})
    return Prepared(name, kb.identity(), PairSet(as_views(train.pairs, views), pairs.origin),
                    len(split.held_out), pool)


def as_views(pairs: Sequence[Pair], views: dict[str, str]) -> tuple[Pair, ...]:
    """Each passage as the view of its chunk, which is what the embedder indexed and what a
    reranker reads: a positive given with its title and negatives mined as bare chunks
    would otherwise differ in form, and a model learns the form (a cross-encoder trained so
    ranked SciFact's test claims far below cosine)."""
    return tuple(Pair(pair.query, views.get(pair.positive, pair.positive),
                      tuple(views.get(n, n) for n in pair.negatives), pair.source)
                 for pair in pairs)


def train_retriever(kb: KnowledgeBase, pairs: PairSet, training: Training,
                    listener: TrainListener | None = None) -> TrainedModel:
    """Fine-tune ``kb``'s embedder on ``pairs`` and add the result to its catalog.

    Raises:
        ConfigError: the embedder cannot be trained, a positive is not in the knowledge base
            (unless ``skip_missing``), too few pairs remain, or the name is taken.
    """
    listener = listener or SilentTraining()
    started = time.perf_counter()
    embedder = trainable(kb.embedder, kb.status().embedder)
    ready = prepare(kb, pairs, training, "retriever", listener)
    listener.stage("scoring the held-out pairs before training")
    before = score_embedder(kb.embedder, ready.pool)
    staging, checkpoint = _staging(kb, "retriever", embedder.model_dir, ready.train, training)
    from lore.train.trainer import train_bi_encoder  # torch loads only to train

    report = train_bi_encoder(
        embedder.model_dir, as_read(embedder, ready.train.pairs), training.settings,
        staging / "model", step_progress(listener, f"training on {len(ready.train.pairs)} pairs"),
        checkpoint)
    record_text_form(staging / "model", embedder.text_form)
    listener.stage("scoring the held-out pairs after training")
    after = score_after(staging / "model", kb.embedder, ready.pool)
    return _publish(staging, ready, "retriever", kb.status().embedder, training, report.losses,
                    {"before": before, "after": after}, started)


def train_reranker(kb: KnowledgeBase, pairs: PairSet, training: Training, base: Path,
                   base_name: str, listener: TrainListener | None = None) -> TrainedModel:
    """Train a cross-encoder from the transformer in ``base`` on ``pairs`` with negatives
    mined from ``kb``, and add it to ``kb``'s catalog. "Before" ranks the held-out pool by the
    embedder's cosine (search without a reranker); "after", by the cross-encoder."""
    listener = listener or SilentTraining()
    started = time.perf_counter()
    ready = prepare(kb, pairs, training, "reranker", listener)
    listener.stage("scoring the held-out pairs before training")
    before = score_embedder(kb.embedder, ready.pool)
    staging, checkpoint = _staging(kb, "reranker", base, ready.train, training)
    from lore.train.reranker import train_cross_encoder  # torch loads only to train

    negatives = training.mining.count if training.mining else 3
    report = train_cross_encoder(
        base, ready.train.pairs, training.settings, staging / "model", negatives,
        step_progress(listener, f"training on {len(ready.train.pairs)} pairs"), checkpoint)
    listener.stage("scoring the held-out pairs after training")
    scored = pool_scores(CrossEncoderReranker(staging / "model").score, ready.pool)
    after = ranking_metrics(rankings(scored), ready.pool.relevant)
    relevance = fit_threshold(scored, ready.pool.relevant)
    if relevance:
        save_relevance_threshold(staging / "model", relevance)
    return _publish(staging, ready, "reranker", base_name, training, report.losses,
                    {"before": before, "after": after, "relevance": relevance}, started)


def train_head(kb: KnowledgeBase, pairs: PairSet, training: Training, kind: HeadKind,
               listener: TrainListener | None = None) -> TrainedModel:
    """Train a scoring head over ``kb``'s stored vectors (``lore.rerank.heads``) and add it
    to its catalog. "Before" ranks the held-out pool by cosine; "after", by the head."""
    listener = listener or SilentTraining()
    started = time.perf_counter()
    ready = prepare(kb, pairs, training, "head", listener)
    listener.stage("embedding the passages as they are stored")
    embedder = kb.embedder
    examples = vector_examples(embedder, ready.train.pairs)
    pool_passages = embedder.embed_documents(list(ready.pool.passages))
    pool_queries = {query: embedder.embed_query(query) for query in ready.pool.queries}
    before = score_vectors(ready.pool, pool_queries, pool_passages, cosine)
    from lore.train.heads import train_head as fit_head  # torch loads only to train

    head, report = fit_head(kind, examples, training.settings,
                            step_progress(listener, f"training on {len(examples)} pairs"))
    after = score_vectors(ready.pool, pool_queries, pool_passages, head.score_vectors)
    staging = staging_dir(kb.directory,
                          _fingerprint("head", Path(kind), ready.train, training)["key"])
    save_head(head, staging / "model")
    return _publish(staging, ready, "head", kb.status().embedder, training, report.losses,
                    {"before": before, "after": after}, started)


def vector_examples(embedder: Embedder, pairs: Sequence[Pair]) -> list[VectorExample]:
    """Each pair as vectors: its query embedded as a query, its passages (views) as the
    store holds them."""
    from lore.train.heads import VectorExample

    texts = list(dict.fromkeys(t for pair in pairs for t in (pair.positive, *pair.negatives)))
    vectors = dict(zip(texts, embedder.embed_documents(texts), strict=True))
    dim = embedder.dim
    return [VectorExample(embedder.embed_query(pair.query), vectors[pair.positive],
                          np.stack([vectors[n] for n in pair.negatives]) if pair.negatives
                          else np.empty((0, dim), dtype=np.float32))
            for pair in pairs]


def _staging(kb: KnowledgeBase, kind: ModelKind, base: Path, train: PairSet,
             training: Training) -> tuple[Path, Checkpoint]:
    from lore.train.checkpoint import Checkpoint

    fingerprint = _fingerprint(kind, base, train, training)
    staging = staging_dir(kb.directory, fingerprint["key"])
    return staging, Checkpoint(staging / "checkpoint", fingerprint, training.checkpoint_every)


def _publish(staging: Path, ready: Prepared, kind: ModelKind, base: str, training: Training,
             losses: list[float], metrics: dict[str, dict[str, float]], started: float
             ) -> TrainedModel:
    data = TrainingData(ready.train.origin, ready.train.digest, len(ready.train.pairs),
                        ready.held_out)
    return publish(staging, TrainedModel(ready.name, kind, base, ready.kb_id, data,
                                         _settings(training), losses, metrics,
                                         round(time.perf_counter() - started, 1)))


def trainable(embedder: Embedder, spec: str) -> TransformerEmbedder:
    """The embedder training starts from: a sentence-transformers model run in PyTorch."""
    if not isinstance(embedder, TransformerEmbedder):
        raise ConfigError(f"the embedder {spec!r} cannot be fine-tuned here; train a knowledge "
                          "base embedded with minilm, e5-small, a trained retriever or a local "
                          "sentence-transformers directory (`lore reembed --model minilm`)")
    return embedder


def as_read(embedder: TransformerEmbedder, pairs: Sequence[Pair]) -> list[Pair]:
    """Every text as ``embedder`` reads it (e5: after its prefix and character map), so the
    model learns on what it will be given."""
    return [replace(pair, query=embedder.query_input(pair.query),
                    positive=embedder.passage_input(pair.positive),
                    negatives=tuple(embedder.passage_input(text) for text in pair.negatives))
            for pair in pairs]


def located(kb: KnowledgeBase, pairs: PairSet, skip_missing: bool,
            listener: TrainListener, views: dict[str, str]) -> list[Pair]:
    """The pairs whose positive the knowledge base holds (a chunk of it, or a document that
    holds it), found by lexical search for the positive's first words; ``views`` gets the
    view of each positive's best chunk."""
    listener.stage("finding each positive in the knowledge base", len(pairs.pairs))
    kept: list[Pair] = []
    missing: list[Pair] = []
    for done, pair in enumerate(pairs.pairs, start=1):
        query = " ".join(pair.positive.split()[:LOCATE_WORDS])
        hits = kb.search(query, k=5, mode="lexical", rerank="")
        chunk = next((hit.chunk for hit in hits if overlaps(hit.chunk.text, pair.positive)),
                     None)
        (kept if chunk is not None else missing).append(pair)
        if chunk is not None:
            views.setdefault(pair.positive, chunk.view)
        listener.advance(done)
    if missing and not skip_missing:
        raise ConfigError(f"{len(missing)} of {len(pairs.pairs)} positives are not in the "
                          f"knowledge base {kb.directory}, the first at {missing[0].source}; "
                          "index the documents they come from, or pass --skip-missing")
    if len(kept) < MIN_PAIRS:
        raise ConfigError(f"{pairs.origin}: only {len(kept)} pairs have their positive in "
                          f"{kb.directory}; at least {MIN_PAIRS} are needed")
    return kept


def mined(kb: KnowledgeBase, pairs: Sequence[Pair], mining: Mining | None,
          listener: TrainListener, views: dict[str, str]) -> PairSet:
    """``pairs`` with hard negatives from hybrid search, when ``mining``."""
    if mining is None:
        return PairSet(tuple(pairs), "train")
    listener.stage("mining hard negatives", len(pairs))
    vectors: dict[str, np.ndarray] = {}  # each passage is embedded once
    done = 0

    def candidates(query: str, n: int) -> list[str]:
        nonlocal done
        done += 1
        listener.advance(done)
        return search_texts(kb, query, n, views)

    def similarity(query: str, passages: Sequence[str]) -> list[float]:
        fresh = [p for p in dict.fromkeys(passages) if p not in vectors]
        if fresh:
            vectors.update(zip(fresh, kb.embedder.embed_documents(fresh), strict=True))
        scores = np.stack([vectors[p] for p in passages]) @ kb.embedder.embed_query(query)
        return [float(score) for score in scores]

    report = mine_negatives(pairs, candidates, similarity, mining)
    return PairSet(report.pairs, "train")


def found_for(kb: KnowledgeBase, held_out: Sequence[Pair], listener: TrainListener,
              views: dict[str, str]) -> dict[str, list[str]]:
    queries = list(dict.fromkeys(pair.query for pair in held_out))
    listener.stage("searching the held-out queries", len(queries))
    found = {}
    for done, query in enumerate(queries, start=1):
        found[query] = search_texts(kb, query, POOL_DEPTH, views)
        listener.advance(done)
    return found


def search_texts(kb: KnowledgeBase, query: str, n: int, views: dict[str, str]) -> list[str]:
    """The texts of hybrid search's first ``n`` chunks (``views`` records their views)."""
    hits = kb.search(query, k=n, mode="hybrid", rerank="")
    for hit in hits:
        views.setdefault(hit.chunk.text, hit.chunk.view)
    return list(dict.fromkeys(hit.chunk.text for hit in hits))


def score_after(model_dir: Path, base: Embedder, pool: Pool) -> dict[str, float]:
    trained = TransformerEmbedder(model_dir, batch_size=getattr(base, "batch_size", 32))
    return score_embedder(trained, pool)


def _fingerprint(kind: ModelKind, base: Path, pairs: PairSet, training: Training
                 ) -> dict[str, str]:
    fields = {"kind": kind, "base": str(base), "pairs": pairs.digest,
              "settings": json.dumps(asdict(training.settings), sort_keys=True)}
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    return {**fields, "key": f"{kind}-{key}"}


def _settings(training: Training) -> dict[str, object]:
    recorded = asdict(replace(training, name=None))
    recorded.pop("name")
    return recorded


def step_progress(listener: TrainListener, description: str) -> Callable[[int, int, float], None]:
    """The trainer's per-step callback as listener calls (a resumed run starts past step 1)."""
    staged = False

    def step(done: int, steps: int, loss: float) -> None:
        nonlocal staged
        if not staged:
            listener.stage(description, steps)
            staged = True
        listener.advance(done, f"loss {loss:.3f}")

    return step
