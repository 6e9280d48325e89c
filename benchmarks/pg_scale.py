"""The PostgreSQL store from 10k to 1M chunks: bulk load, graph build, disk, search latency,
and HNSW recall@10 against exact; and BM25 in SQL against the in-memory index, at each size.

    python benchmarks/pg_scale.py [--scales 10k,100k,1m] [--server URL] [--queries 100]

Data. Real chunks: every chunk of the SciFact, SQuAD v1.1 dev and HotpotQA dev (500) corpora as
lore indexes them (the evaluation cache's knowledge bases, built first when missing), with
their text, analysed terms and MiniLM vectors; their documents are shuffled with a fixed seed
and taken whole, so a size holds a mix of the three. Past the real chunks (about 17k), each
real document is copied again and again under a new path, its chunks' views marked with the
copy's number (so each copy has its own vector), and each copy's vectors are the real ones
perturbed as ``benchmarks/ann_family.py`` perturbs them (Gaussian noise with the covariance of
the real vectors, as far from its source as a real passage is from its nearest other). The
copies keep the text and terms of their source: lexical search over them costs what it would
over real text of that size, but it ranks duplicates, so only its latency is reported.

Queries: ``--queries`` query texts from each of the three sets' ``queries.jsonl`` (the
``text`` field only), embedded once with ``embed_query``.

Each size, in a fresh schema of the database (dropped afterwards):

1. Load through ``PostgresStore.write`` and ``put_vectors``, as an index run writes, in
   batches of ``BATCH`` documents; the rate counts only the store's calls (no parsing, no
   embedding).
2. ``VACUUM ANALYZE`` (as a bulk load should be followed by: until autovacuum has done it,
   searches share the cores with it), then the HNSW graph (``PgvectorIndex.sync``) with
   lore's defaults; each timed.
3. Disk: the schema's tables with their indexes, and the graph alone.
4. Dense search on the graph alone, one query at a time, sweeping ``ef_search``: recall@10
   against exact inner product over the same vectors (computed here in numpy), median and
   99th-percentile time.
5. BM25 both ways, on the same analysed query terms: the in-memory index that lore derives
   from the store (time to build it from PostgreSQL, the memory it adds, search time), and
   BM25 in SQL over a postings table holding each posting's precomputed weight (time to build
   the table, its disk, search time, and agreement of the top 10 with the in-memory index).
6. Search through ``KnowledgeBase.search`` (embedding the query, fusion and reading the hits
   included), lexical, dense and hybrid, one client, ``ef_search`` at the default: median and
   99th percentile.

Writes ``results/pg_scale.json``, ``.md`` and ``.png`` (the cost curve). PostgreSQL runs
with the server's own settings (pgserver's are PostgreSQL's defaults: 128 MB shared buffers),
on the same 2-core machine as the client.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from ann_family import noise_model  # noqa: E402
from common import machine  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

import lore  # noqa: E402
from lore.config import IndexConfig, LoreConfig  # noqa: E402
from lore.eval.beir import load_beir  # noqa: E402
from lore.eval.retrieval import open_indexed  # noqa: E402
from lore.models.files import default_cache_dir  # noqa: E402
from lore.store import pgvector  # noqa: E402
from lore.store.derived import DerivedIndex, TermFeed  # noqa: E402
from lore.store.pgvector import PgvectorIndex  # noqa: E402
from lore.store.postgres import PostgresStore, with_schema  # noqa: E402
from lore.store.protocol import DocumentWrite  # noqa: E402
from lore.store.sqlite import SqliteStore  # noqa: E402
from lore.testing import postgres  # noqa: E402
from lore.text.analyze import analyze  # noqa: E402
from lore.types import Chunk, Document, Filter, SearchMode  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SETS = ("scifact", "squad-v1.1-dev", "hotpotqa-dev-distractor-500")
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
DIM = 384
K = 10
BATCH = 500
EF_SWEEP = (40, 100, 200, 400)
MODES: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")
SEED = 0
META_KEPT = ("embedder", "embedder_reason", "dimension", "chunking")
"""What the loaded store keeps of its source's meta: enough for a knowledge base to open it
with the same embedder and chunking."""


@dataclass(frozen=True)
class Source:
    """One real document with its chunks, their terms and rows of the real vector matrix."""

    document: Document
    chunks: tuple[Chunk, ...]
    terms: tuple[str, ...]
    rows: np.ndarray


# --- data -------------------------------------------------------------------------------------

def real_sources() -> tuple[list[Source], np.ndarray, dict[str, str]]:
    """Every document of the three sets' knowledge bases, shuffled; their vectors; the meta."""
    sources: list[Source] = []
    blocks: list[np.ndarray] = []
    meta: dict[str, str] = {}
    offset = 0
    for name in SETS:
        dataset = load_beir(DATA / name, "test")
        with open_indexed(dataset, default_cache_dir(os.environ) / "eval", LoreConfig()) as kb:
            path = Path(kb.directory) / "lore.db"
        found, vectors = read_store(path, offset)
        sources += found
        blocks.append(vectors)
        offset += len(vectors)
        with closing(SqliteStore(str(path))) as store:
            meta = {key: value for key in META_KEPT
                    if (value := store.get_meta(key)) is not None}
    random.Random(SEED).shuffle(sources)
    return sources, np.concatenate(blocks), meta


def read_store(path: Path, offset: int) -> tuple[list[Source], np.ndarray]:
    """The documents of one knowledge base's store, each chunk's vector a row (from ``offset``
    on) of the matrix returned beside them."""
    with closing(SqliteStore(str(path))) as store:
        rowids = store.filtered_rowids(Filter()).tolist()
        stored = store.chunks(rowids)
        keys, texts = store.chunk_terms(rowids)
        terms = dict(zip(keys.tolist(), texts, strict=True))
        vector_keys, matrix = store.chunk_vectors(rowids, dim=DIM)
    row_of = {int(key): offset + i for i, key in enumerate(vector_keys.tolist())}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        documents = {row[0]: Document(path=row[1], key=row[2], title=row[3], format=row[4],
                                      language=row[5], mtime=row[6], text=row[7])
                     for row in db.execute("SELECT id, path, key, title, format, language, "
                                           "mtime, text FROM documents")}
    by_document: dict[str, list[int]] = {}
    for rowid in sorted(stored):
        by_document.setdefault(stored[rowid].chunk.doc_id, []).append(rowid)
    sources = [Source(documents[doc_id], tuple(stored[r].chunk for r in chunk_rowids),
                      tuple(terms[r] for r in chunk_rowids),
                      np.array([row_of[r] for r in chunk_rowids]))
               for doc_id, chunk_rowids in by_document.items()]
    return sources, matrix.astype(np.float32)


def batches(sources: list[Source], real: np.ndarray, n: int
            ) -> Iterator[tuple[list[DocumentWrite], list[str], np.ndarray]]:
    """Writes of about ``n`` chunks in batches: the real documents, then numbered copies with
    perturbed vectors; each batch with its chunks' view hashes and vectors in order."""
    scale, shape, _ = noise_model(real)
    rng = np.random.default_rng(SEED + 3)
    total, copy = 0, 0
    while total < n:
        for start in range(0, len(sources), BATCH):
            writes, hashes, rows = [], [], []
            for source in sources[start:start + BATCH]:
                if total >= n:
                    break
                written = source if copy == 0 else copied(source, copy)
                writes.append(DocumentWrite(written.document, written.chunks, written.terms))
                hashes += [chunk.view_hash for chunk in written.chunks]
                rows.append(source.rows)
                total += len(source.chunks)
            if not writes:
                return
            vectors = real[np.concatenate(rows)]
            if copy:
                vectors = vectors + scale * (rng.standard_normal(vectors.shape,
                                                                 dtype=np.float32) @ shape)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            yield writes, hashes, vectors.astype(np.float32)
        copy += 1


def copied(source: Source, copy: int) -> Source:
    document = replace(source.document, path=f"{source.document.path}~{copy}")
    chunks = tuple(replace(chunk, doc_id=document.id, view=f"{chunk.view} ~{copy}")
                   for chunk in source.chunks)
    return Source(document, chunks, source.terms, source.rows)


def query_set(per_set: int) -> list[str]:
    texts: list[str] = []
    for name in SETS:
        with open(DATA / name / "queries.jsonl", encoding="utf-8") as handle:
            pool = [json.loads(line)["text"] for line in handle]
        picked = np.random.default_rng(SEED + 1).choice(len(pool), per_set, replace=False)
        texts += [pool[i] for i in sorted(picked.tolist())]
    return texts


# --- measuring --------------------------------------------------------------------------------

def load(store: PostgresStore, sources: list[Source], real: np.ndarray, n: int
         ) -> tuple[dict[str, float], list[str], np.ndarray]:
    """Write about ``n`` chunks; the seconds the store's calls took, the chunk ids and the
    vectors in the order written."""
    ids: list[str] = []
    blocks: list[np.ndarray] = []
    write_s = vector_s = 0.0
    with Progress(transient=True) as progress:
        task = progress.add_task(f"loading {n:,} chunks", total=n)
        for writes, hashes, vectors in batches(sources, real, n):
            began = time.perf_counter()
            store.write(writes)
            wrote = time.perf_counter()
            store.put_vectors(hashes, vectors)
            write_s, vector_s = write_s + wrote - began, vector_s + time.perf_counter() - wrote
            ids += [chunk.id for w in writes for chunk in w.chunks]
            blocks.append(vectors)
            progress.update(task, completed=len(ids))
    return {"write_s": write_s, "vectors_s": vector_s}, ids, np.concatenate(blocks)


def rowids_of(store: PostgresStore, ids: list[str]) -> np.ndarray:
    found: dict[str, int] = {}
    for start in range(0, len(ids), 20_000):
        found.update(store.chunk_rowids(ids[start:start + 20_000]))
    return np.array([found[i] for i in ids], dtype=np.int64)


def exact_truth(vectors: np.ndarray, rowids: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    scores = np.concatenate([queries @ vectors[s:s + 100_000].T
                             for s in range(0, len(vectors), 100_000)], axis=1)
    top = np.argpartition(-scores, K, axis=1)[:, :K]
    return [set(rowids[row].tolist()) for row in top]


def timed(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


def graph_sweep(index: PgvectorIndex, queries: np.ndarray, truth: list[set[int]]
                ) -> list[dict[str, float]]:
    points = []
    for ef in EF_SWEEP:
        index.ef_search = ef
        for query in queries[:20]:
            index.search(query, K)
        times, found = [], 0
        for query, true in zip(queries, truth, strict=True):
            began = time.perf_counter()
            keys, _ = index.search(query, K)
            times.append(time.perf_counter() - began)
            found += len(true & set(keys.tolist()))
        points.append({"ef_search": ef, "recall_at_10": found / (K * len(truth)),
                       **timed(times)})
    index.ef_search = pgvector.EF_SEARCH
    return points


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bm25_in_memory(store: PostgresStore, terms: list[list[str]]
                   ) -> tuple[dict[str, float], list[list[int]]]:
    before, began = rss_mb(), time.perf_counter()
    index = DerivedIndex(store, None, TermFeed(store)).current()
    built = time.perf_counter() - began
    index.search(terms[0], K)  # its term-major arrays are made on the first search
    times, tops = [], []
    for query in terms:
        began = time.perf_counter()
        keys, _ = index.search(query, K)
        times.append(time.perf_counter() - began)
        tops.append(keys.tolist())
    return {"build_s": built, "added_rss_mb": rss_mb() - before, **timed(times)}, tops


POSTINGS = """
CREATE TABLE bm25_postings AS
WITH average AS (SELECT AVG(cardinality(string_to_array(terms, ' '))) AS avgdl FROM chunks)
SELECT t.term, c.rowid,
       (t.tf / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * cardinality(string_to_array(c.terms, ' '))
                                              / a.avgdl)))::real AS weight
FROM chunks c CROSS JOIN average a CROSS JOIN LATERAL (
    SELECT term, COUNT(*) AS tf FROM unnest(string_to_array(c.terms, ' ')) AS term
    WHERE term <> '' GROUP BY term) t;
CREATE INDEX bm25_postings_term ON bm25_postings(term) INCLUDE (rowid, weight);
CREATE TABLE bm25_df AS SELECT term, COUNT(*)::real AS df FROM bm25_postings GROUP BY term;
CREATE UNIQUE INDEX bm25_df_term ON bm25_df(term);
"""
"""BM25 as the in-memory index scores it (Lucene's idf, no (k1 + 1) factor), with each
posting's weight computed once; a query then sums idf x weight per chunk."""
BM25_SQL = """
WITH q AS (SELECT term, ln(1 + (%(n)s - df + 0.5) / (df + 0.5)) AS idf FROM bm25_df
           WHERE term = ANY(%(terms)s))
SELECT p.rowid, SUM(q.idf * p.weight) AS score FROM bm25_postings p JOIN q USING (term)
GROUP BY p.rowid ORDER BY score DESC, p.rowid LIMIT %(k)s
"""


def bm25_in_sql(store: PostgresStore, n: int, terms: list[list[str]], memory: list[list[int]]
                ) -> dict[str, float]:
    began = time.perf_counter()
    with store._pool.connection() as conn:  # a measured alternative, not part of the store
        with conn.transaction():
            for statement in filter(str.strip, POSTINGS.split(";")):
                conn.execute(statement, {"k1": 1.2, "b": 0.75} if "%(" in statement else None)
        built = time.perf_counter() - began
        size = conn.execute("SELECT pg_total_relation_size('bm25_postings') + "
                            "pg_total_relation_size('bm25_df')").fetchone()
        conn.execute("ANALYZE bm25_postings")
        conn.execute("ANALYZE bm25_df")
        times, agree = [], 0
        for query, top in zip(terms, memory, strict=True):
            began = time.perf_counter()
            rows = conn.execute(BM25_SQL, {"n": n, "terms": list(dict.fromkeys(query)),
                                           "k": K}).fetchall()
            times.append(time.perf_counter() - began)
            agree += len({int(r[0]) for r in rows} & set(top))
    return {"build_s": built, "disk_bytes": int(size[0]) if size else 0,
            "top10_agreement_with_memory": agree / (K * len(terms)), **timed(times)}


def kb_search(location: str, texts: list[str]) -> dict[str, Any]:
    config = LoreConfig(kb_dir=Path("unused"), index=IndexConfig(ann="pgvector"))
    with tempfile.TemporaryDirectory() as folder, \
            lore.open(Path(folder) / "kb", model="minilm", config=config,
                      store=location) as kb:
        began = time.perf_counter()
        kb.search(texts[0], k=K, mode="hybrid")  # loads the embedder, derives BM25
        first = time.perf_counter() - began
        results: dict[str, Any] = {"first_search_s": first}
        for mode in MODES:
            for text in texts[:20]:
                kb.search(text, k=K, mode=mode)
            times = []
            for text in texts:
                began = time.perf_counter()
                kb.search(text, k=K, mode=mode)
                times.append(time.perf_counter() - began)
            results[mode] = timed(times)
        results["rss_mb"] = rss_mb()
    return results


def measure(url: str, label: str, n: int, sources: list[Source], real: np.ndarray,
            meta: dict[str, str], texts: list[str], queries: np.ndarray) -> dict[str, Any]:
    console = Console(stderr=True)
    location = with_schema(url, f"scale_{label}_{os.getpid()}")
    store = PostgresStore(location)
    try:
        store.set_meta(meta)
        loaded, ids, vectors = load(store, sources, real, n)
        chunks = store.chunk_count()
        console.print(f"{label}: {chunks:,} chunks loaded in "
                      f"{loaded['write_s'] + loaded['vectors_s']:.0f} s")
        began = time.perf_counter()
        with store._pool.connection() as conn:  # what a bulk load should be followed by
            conn.execute("VACUUM ANALYZE")
        vacuum_s = time.perf_counter() - began
        index = PgvectorIndex(DIM)
        index.attach(store)
        began = time.perf_counter()
        index.sync()
        build_s = time.perf_counter() - began
        memory_setting = pgvector.build_memory(chunks, DIM, pgvector.M)
        console.print(f"{label}: graph built in {build_s:.0f} s")
        truth = exact_truth(vectors, rowids_of(store, ids), queries)
        del vectors
        sweep = graph_sweep(index, queries, truth)
        terms = [analyze(text) for text in texts]
        memory, tops = bm25_in_memory(store, terms)
        disk = {"store_bytes": store.size_bytes(), "graph_bytes": index.size_bytes()}
        sql = bm25_in_sql(store, chunks, terms, tops)
        console.print(f"{label}: BM25 in memory {memory['median_ms']:.1f} ms, in SQL "
                      f"{sql['median_ms']:.1f} ms at the median")
        searched = kb_search(location, texts)
    finally:
        with store._pool.connection() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {store.schema} CASCADE")
        store.close()
    seconds = loaded["write_s"] + loaded["vectors_s"]
    return {"scale": label, "chunks": chunks, "real_chunks": int(min(chunks, len(real))),
            "load": {**loaded, "chunks_per_s": chunks / seconds}, "vacuum_analyze_s": vacuum_s,
            "graph_build_s": build_s, "graph_build_memory": memory_setting,
            "disk": disk, "graph_sweep": sweep, "bm25_memory": memory, "bm25_sql": sql,
            "search": searched}


# --- reporting --------------------------------------------------------------------------------

def goals(results: list[dict[str, Any]]) -> dict[str, Any]:
    top = max(results, key=lambda r: r["chunks"])
    default = next(p for p in top["graph_sweep"] if p["ef_search"] == pgvector.EF_SEARCH)
    hybrid = top["search"]["hybrid"]
    return {"at_chunks": top["chunks"],
            "hybrid_median_ms<=30": hybrid["median_ms"] <= 30,
            "hybrid_p99_ms<=100": hybrid["p99_ms"] <= 100,
            "recall_at_10>=0.95_at_default_ef": default["recall_at_10"] >= 0.95,
            "bulk_load_chunks_per_s>=5000": top["load"]["chunks_per_s"] >= 5000}


def table(results: list[dict[str, Any]]) -> Table:
    out = Table(title="PostgreSQL + pgvector by size (one client, 2 cores shared with the "
                      "server)")
    columns = ("chunks", "load /s", "graph build", "disk", "recall@10 (ef)", "dense ms",
               "lexical ms", "hybrid ms (p99)", "BM25 mem / SQL ms")
    for column in columns:
        out.add_column(column, justify="right")
    for r in results:
        default = next(p for p in r["graph_sweep"] if p["ef_search"] == pgvector.EF_SEARCH)
        s = r["search"]
        out.add_row(f"{r['chunks']:,}", f"{r['load']['chunks_per_s']:,.0f}",
                    f"{r['graph_build_s']:.0f} s",
                    f"{r['disk']['store_bytes'] / 2**30:.2f} GiB",
                    f"{default['recall_at_10']:.3f} ({default['ef_search']})",
                    f"{s['dense']['median_ms']:.1f}", f"{s['lexical']['median_ms']:.1f}",
                    f"{s['hybrid']['median_ms']:.1f} ({s['hybrid']['p99_ms']:.0f})",
                    f"{r['bm25_memory']['median_ms']:.1f} / {r['bm25_sql']['median_ms']:.1f}")
    return out


def write_markdown(report: dict[str, Any], path: Path) -> None:
    lines = ["# PostgreSQL + pgvector by size", "", "`python benchmarks/pg_scale.py`", "",
             "| chunks | load (chunks/s) | graph build (s) | disk (GiB) | graph (GiB) | "
             f"recall@10 at ef {report['defaults']['ef_search']} | dense median ms "
             "| lexical median ms | hybrid median ms | hybrid p99 ms | BM25 in memory ms "
             "| BM25 in SQL ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        default = next(p for p in r["graph_sweep"]
                       if p["ef_search"] == report["defaults"]["ef_search"])
        s = r["search"]
        lines.append(
            f"| {r['chunks']:,} | {r['load']['chunks_per_s']:,.0f} | {r['graph_build_s']:.0f} "
            f"| {r['disk']['store_bytes'] / 2**30:.2f} | {r['disk']['graph_bytes'] / 2**30:.2f} "
            f"| {default['recall_at_10']:.3f} | {s['dense']['median_ms']:.1f} "
            f"| {s['lexical']['median_ms']:.1f} | {s['hybrid']['median_ms']:.1f} "
            f"| {s['hybrid']['p99_ms']:.1f} | {r['bm25_memory']['median_ms']:.1f} "
            f"| {r['bm25_sql']['median_ms']:.1f} |")
    lines += ["", "ef_search sweep (graph alone):", ""]
    for r in report["results"]:
        lines.append(f"- {r['chunks']:,}: " + ", ".join(
            f"ef {p['ef_search']}: recall {p['recall_at_10']:.3f}, {p['median_ms']:.1f} ms "
            f"(p99 {p['p99_ms']:.1f})" for p in r["graph_sweep"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["chunks"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    axes[0].plot(sizes, [r["load"]["write_s"] + r["load"]["vectors_s"] for r in results],
                 marker="o", label="bulk load")
    axes[0].plot(sizes, [r["graph_build_s"] for r in results], marker="o",
                 label="HNSW graph build")
    axes[0].plot(sizes, [r["bm25_memory"]["build_s"] for r in results], marker="o",
                 label="BM25 in memory, derived")
    axes[0].set_ylabel("seconds")
    axes[1].plot(sizes, [r["disk"]["store_bytes"] / 2**30 for r in results], marker="o",
                 label="schema, all tables and indexes")
    axes[1].plot(sizes, [r["disk"]["graph_bytes"] / 2**30 for r in results], marker="o",
                 label="HNSW graph")
    axes[1].set_ylabel("GiB")
    for mode in MODES:
        axes[2].plot(sizes, [r["search"][mode]["median_ms"] for r in results], marker="o",
                     label=f"{mode} median")
    axes[2].plot(sizes, [r["search"]["hybrid"]["p99_ms"] for r in results], marker="o",
                 linestyle="--", label="hybrid p99")
    axes[2].set_ylabel("ms per search (one client)")
    for ax, title in zip(axes, ("time to load and build", "disk", "search latency"),
                         strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("chunks")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="10k,100k,1m")
    parser.add_argument("--server", help="a PostgreSQL database URL (default: start pgserver)")
    parser.add_argument("--queries", type=int, default=100, help="query texts per set")
    args = parser.parse_args()
    sources, real, meta = real_sources()
    texts = query_set(args.queries)
    from lore.config import EmbedConfig
    from lore.embed.registry import create_embedder

    embedder = create_embedder(EmbedConfig(model="minilm"))
    queries = np.stack([embedder.embed_query(t) for t in texts]).astype(np.float32)
    url = args.server or postgres.server_url()
    results = []
    for label in args.scales.split(","):
        results.append(measure(url, label, SCALES[label], sources, real, meta, texts,
                               queries))
        Console().print(table(results))
        report = {"machine": machine(), "queries": len(texts), "real_chunks": len(real),
                  "defaults": {"m": pgvector.M, "ef_construction": pgvector.EF_CONSTRUCTION,
                               "ef_search": pgvector.EF_SEARCH,
                               "build_memory_bounds_mb": pgvector.BUILD_MEMORY_MB},
                  "noise": noise_model(real)[2], "results": results, "goals": goals(results)}
        write(report)  # after each size: a later one that fails keeps the earlier
    Console().print(report["goals"])
    return 0


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pg_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, RESULTS / "pg_scale.md")
    plot(report["results"], RESULTS / "pg_scale.png")


if __name__ == "__main__":
    sys.exit(main())
