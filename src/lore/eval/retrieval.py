"""Retrieval evaluation: index a BEIR corpus the way a user would, search every judged query,
score the ranked documents, and keep a trace of each query.

The corpus is indexed with ``KnowledgeBase.index`` (the code path ``lore index`` runs) into a
cache directory named by the corpus's path and content and by the embedder, so a second run
only opens it. Chunk hits become document rankings by max-passage (a document ranks where its
best chunk does) or first-passage aggregation (only the chunk that opens a document counts;
Dai and Callan, "Deeper Text Understanding for IR with Contextual Neural Language Modeling",
SIGIR 2019, call these MaxP and FirstP).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from lore import api
from lore.api import KnowledgeBase
from lore.config import IngestConfig, LoreConfig, StrategyName
from lore.eval.beir import BeirSet
from lore.eval.metrics import MetricResult, Qrels, Run, mrr_at_k, ndcg_at_k, recall_at_k
from lore.pipeline import IndexListener
from lore.types import Hit, SearchMode

Aggregate = Literal["max", "first"]
METRICS: dict[str, Callable[[Run, Qrels], MetricResult]] = {
    "ndcg@10": partial(ndcg_at_k, k=10),
    "recall@10": partial(recall_at_k, k=10),
    "recall@100": partial(recall_at_k, k=100),
    "mrr@10": partial(mrr_at_k, k=10),
}
"""The reported metrics, by the names ``--json`` prints."""
DEPTH = 100
"""Chunks requested per query: recall@100 needs a hundred, and asking for no more than the
fusion candidates (100 by default) keeps the top 10 exactly what ``lore search`` returns."""


@dataclass(frozen=True)
class EvalSettings:
    mode: SearchMode = "hybrid"
    aggregate: Aggregate = "max"
    ignore_identical_ids: bool = False
    """Drop hits whose document id equals the query id (ArguAna-style sets, where each query
    is itself a corpus document)."""
    strategy: StrategyName = "single"
    """A retrieval strategy (``multi-query``, ``hyde``, ``step-back``) rewrites each query
    with the answering model first (``KnowledgeBase.plan_search``)."""


@dataclass
class QueryTrace:
    """One query's outcome: its ranked documents, the chunk hits behind them, its metrics."""

    id: str
    query: str
    ms: float
    documents: list[str]
    hits: list[dict[str, object]]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class RetrievalReport:
    dataset: str
    split: str
    mode: SearchMode
    embedder: str
    queries: int
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    """Median and 90th percentile of one search, query embedding included."""
    seconds: float
    """Wall time of the whole query loop."""
    settings: dict[str, object]


def corpus_key(dataset: BeirSet, model: str, config: LoreConfig) -> str:
    """Names the cached knowledge base: corpus path and bytes, the embedder asked for, and
    the settings that shape chunks and their views."""
    shape = [(i.chunk_tokens, i.overlap_tokens, i.code_view)
             for i in (config.ingest, IngestConfig())]
    digest = hashlib.sha256()
    digest.update(str(dataset.corpus.resolve()).encode())
    digest.update(model.encode())
    if shape[0] != shape[1]:  # default settings leave the key as it always was
        digest.update(repr(shape[0]).encode())
    with dataset.corpus.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{dataset.name}-{digest.hexdigest()[:12]}"


def open_indexed(dataset: BeirSet, cache_root: Path, config: LoreConfig,
                 model: str | None = None, listener: IndexListener | None = None
                 ) -> KnowledgeBase:
    """The knowledge base of ``dataset``'s corpus under ``cache_root``, indexed (a no-op when
    the cached one is current)."""
    directory = cache_root / corpus_key(dataset, model or config.embed.model, config)
    kb = api.open(directory, model=model, config=config)
    try:
        kb.index([dataset.corpus], listener)
    except BaseException:
        kb.close()
        raise
    return kb


def evaluate(kb: KnowledgeBase, dataset: BeirSet, settings: EvalSettings,
             on_query: Callable[[QueryTrace], None] | None = None
             ) -> tuple[RetrievalReport, list[QueryTrace]]:
    """Search every judged query of ``dataset`` in ``kb`` and score the document rankings."""
    traces = list(run_queries(kb, dataset, settings, on_query))
    return summarize(traces, dataset, settings, kb.status().embedder), traces


def run_queries(kb: KnowledgeBase, dataset: BeirSet, settings: EvalSettings,
                on_query: Callable[[QueryTrace], None] | None = None) -> Iterator[QueryTrace]:
    for qid, text in dataset.queries.items():
        started = time.perf_counter()
        if settings.strategy == "single":
            hits = kb.search(text, k=DEPTH, mode=settings.mode)
        else:
            hits, _ = kb.plan_search(text, settings.strategy, k=DEPTH)
        ms = (time.perf_counter() - started) * 1000
        if settings.ignore_identical_ids:
            hits = [hit for hit in hits if hit.doc_key != qid]
        documents = document_ranking(hits, settings.aggregate)
        trace = QueryTrace(qid, text, ms, documents, [_trace_hit(h) for h in hits])
        trace.metrics = score_query(documents, dataset.qrels[qid])
        if on_query is not None:
            on_query(trace)
        yield trace


def summarize(traces: Sequence[QueryTrace], dataset: BeirSet, settings: EvalSettings,
              embedder: str) -> RetrievalReport:
    run = {t.id: t.documents for t in traces}
    qrels = {t.id: dataset.qrels[t.id] for t in traces}
    metrics = {name: metric(run, qrels).mean
               for name, metric in METRICS.items()}
    times = sorted(t.ms for t in traces)
    latency = {"median": statistics.median(times) if times else 0.0,
               "p90": times[int(0.9 * (len(times) - 1))] if times else 0.0}
    return RetrievalReport(
        dataset=dataset.name, split=dataset.split, mode=settings.mode, embedder=embedder,
        queries=len(traces), metrics=metrics, latency_ms=latency,
        seconds=sum(times) / 1000, settings={"aggregate": settings.aggregate,
                                             "ignore_identical_ids": settings.ignore_identical_ids,
                                             "depth": DEPTH, "strategy": settings.strategy})


def score_query(documents: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    run, qrels = {"q": documents}, {"q": relevant}
    return {name: metric(run, qrels).mean
            for name, metric in METRICS.items()}


def document_ranking(hits: Sequence[Hit], aggregate: Aggregate = "max") -> list[str]:
    """Document ids, best first, from chunk hits ordered best first.

    ``max``: a document ranks where its best chunk does. ``first``: only a document's opening
    chunk (the one starting at character 0) counts.
    """
    if aggregate == "first":
        hits = [hit for hit in hits if hit.chunk.start == 0]
    return list(dict.fromkeys(hit.doc_key or hit.path for hit in hits))


def write_traces(traces: Sequence[QueryTrace], path: Path) -> None:
    """One JSON object per query: id, text, milliseconds, documents, hits, metrics."""
    with path.open("w", encoding="utf-8") as handle:
        for trace in traces:
            handle.write(json.dumps(trace.__dict__, ensure_ascii=False) + "\n")


def _trace_hit(hit: Hit) -> dict[str, object]:
    return {"doc": hit.doc_key or hit.path, "chunk": hit.chunk.id, "start": hit.chunk.start,
            "end": hit.chunk.end, "score": round(hit.score, 6),
            "scores": {k: round(v, 6) for k, v in hit.scores.items()}, "ranks": dict(hit.ranks)}
