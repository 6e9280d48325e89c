"""What one search's query embedding costs: ms per query by batch size and torch threads.

The number that bounds ``lore serve``'s search throughput (``benchmarks/serve.py``): if a pass
over a batch of queries costs the same per query at every batch size, micro-batching saves
no arithmetic and the server can embed at most one query per that many ms per core.

    python benchmarks/query_embedding.py            # --queries 256 --batches 1 4 8 16 32

Embeds SciFact's test query texts (text only) with the default English embedder (MiniLM,
bf16 where the CPU has it), at 1 and 2 torch threads. Writes ``results/query_embedding.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import machine
from rich.console import Console
from rich.table import Table

from lore.config import EmbedConfig
from lore.embed.registry import create_embedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
RESULTS = Path(__file__).resolve().parent / "results"


def queries(limit: int) -> list[str]:
    with (DATA / "queries.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    return (texts * (limit // len(texts) + 1))[:limit]


def ms_per_query(embed: object, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embed(texts[start:start + batch])  # type: ignore[operator]
    return (time.perf_counter() - started) / len(texts) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    args = parser.parse_args()
    texts = queries(args.queries)
    embedder = create_embedder(EmbedConfig(model="minilm"))
    embed = embedder.embed_queries  # type: ignore[attr-defined]
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        embed(texts[:32])  # warm up
        for batch in args.batches:
            rows.append({"threads": threads, "batch": batch,
                         "ms_per_query": round(ms_per_query(embed, texts, batch), 2)})
    table = Table(title="query embedding cost (MiniLM)")
    for column in ("threads", "batch", "ms per query"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["threads"]), str(row["batch"]), f"{row['ms_per_query']:.2f}")
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query_embedding.json").write_text(json.dumps(
        {"machine": machine(), "queries": len(texts), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
