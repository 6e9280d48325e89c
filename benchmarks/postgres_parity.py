"""SciFact with its documents in PostgreSQL beside the same in SQLite: quality in every search
mode, and search latency, side by side in one run.

    python benchmarks/postgres_parity.py                     # a PostgreSQL started from pgserver
    python benchmarks/postgres_parity.py --server postgresql://me@host/db

1. The corpus is indexed into a SQLite knowledge base (the evaluation cache: a no-op when it is
   current) and into a fresh schema of the PostgreSQL database, with the same embedder; the
   PostgreSQL run is timed.
2. Each of the 300 test queries is searched in lexical, dense and hybrid mode in both, one
   store right after the other, alternating which goes first, so a drift in the machine
   touches both alike; one untimed pass warms both first.
3. nDCG@10 and Recall@100 over documents (a document ranks by its best chunk), and the
   median and 95th-percentile search time.

Writes ``results/postgres_parity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import lore
from lore.api import KnowledgeBase
from lore.config import LoreConfig
from lore.eval.beir import load_beir
from lore.eval.retrieval import document_ranking, open_indexed, score_query
from lore.models.files import default_cache_dir
from lore.store.postgres import with_schema
from lore.testing import postgres
from lore.types import SearchMode

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
RESULTS = Path(__file__).resolve().parent / "results"
MODES: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")
DEPTH = 100


def measure(stores: dict[str, KnowledgeBase], queries: dict[str, str],
            qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Per store and mode: mean nDCG@10 and Recall@100, and search times."""
    scores: dict[tuple[str, str], list[dict[str, float]]] = {}
    times: dict[tuple[str, str], list[float]] = {}
    names = list(stores)
    with Progress(transient=True) as progress:
        task = progress.add_task("searching", total=len(MODES) * len(queries))
        for mode in MODES:
            for n, (qid, text) in enumerate(queries.items()):
                for name in names if n % 2 == 0 else reversed(names):
                    started = time.perf_counter()
                    hits = stores[name].search(text, k=DEPTH, mode=mode)
                    times.setdefault((name, mode), []).append(time.perf_counter() - started)
                    scores.setdefault((name, mode), []).append(
                        score_query(document_ranking(hits), qrels[qid]))
                progress.advance(task)
    results: dict[str, dict[str, Any]] = {}
    for (name, mode), rows in scores.items():
        spent = sorted(times[(name, mode)])
        results.setdefault(name, {})[mode] = {
            "ndcg@10": statistics.mean(r["ndcg@10"] for r in rows),
            "recall@100": statistics.mean(r["recall@100"] for r in rows),
            "median_ms": 1000 * statistics.median(spent),
            "p95_ms": 1000 * spent[int(0.95 * (len(spent) - 1))]}
    return results


def warm(stores: dict[str, KnowledgeBase], queries: dict[str, str]) -> None:
    for kb in stores.values():
        for mode in MODES:
            for text in list(queries.values())[:20]:
                kb.search(text, k=DEPTH, mode=mode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="a PostgreSQL database URL (default: start pgserver)")
    args = parser.parse_args()
    config = LoreConfig.from_env(os.environ)
    dataset = load_beir(DATA, "test")
    url = args.server or postgres.server_url()
    location = with_schema(url, f"parity_{os.getpid()}")
    with tempfile.TemporaryDirectory() as folder, \
            open_indexed(dataset, default_cache_dir(os.environ) / "eval", config) as local:
        model = local.status().embedder
        started = time.perf_counter()
        with Progress(transient=True) as progress:
            progress.add_task("indexing SciFact into PostgreSQL", total=None)
            shared = lore.open(Path(folder) / "kb", model=model, config=config, store=location)
            shared.index([dataset.corpus])
        index_s = time.perf_counter() - started
        with shared:
            stores = {"sqlite": local, "postgresql": shared}
            warm(stores, dataset.queries)
            results = measure(stores, dataset.queries, dataset.qrels)
            chunks = shared.status().chunks
    run = {"machine": machine(), "embedder": model, "queries": len(dataset.queries),
           "chunks": chunks, "postgres_index_s": index_s, "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "postgres_parity.json").write_text(json.dumps(run, indent=2) + "\n")
    show(run)
    return 0


def show(run: dict[str, Any]) -> None:
    table = Table(title=f"SciFact, {run['queries']} queries, {run['chunks']} chunks, "
                        f"{run['embedder']}")
    for column in ("mode", "store", "nDCG@10", "Recall@100", "median ms", "p95 ms"):
        table.add_column(column, justify="right" if column.endswith(("10", "0", "ms")) else
                         "left")
    for mode in MODES:
        for name, modes in run["results"].items():
            row = modes[mode]
            table.add_row(mode, name, f"{row['ndcg@10']:.4f}", f"{row['recall@100']:.4f}",
                          f"{row['median_ms']:.1f}", f"{row['p95_ms']:.1f}")
    Console().print(table)
    Console().print(f"indexed into PostgreSQL in {run['postgres_index_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
