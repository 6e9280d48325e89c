"""Embedder speed and e5-small's Chinese retrieval quality: the data behind the embedder choice.

    python benchmarks/embedders.py [--models minilm e5-small] [--limit 1000] [--repeats 3]

1. Documents/s: the first ``--limit`` SciFact abstracts (``title + " " + text``, each one
   passage, embedded whole: the embedder truncates at the model's maximum length, as a user's
   single-chunk document would be) through ``embed_documents`` in one call, as ``lore index``
   calls it. Timed ``--repeats`` times after a warm-up; the load average is recorded before
   and after each run, because the machine may be shared, and so is the process's CPU time
   (all threads, spin-waiting included), which moves less with the load than wall time does.
2. Query latency: median (and p95) ms of ``embed_query`` over the SciFact test queries.
3. e5-small alone on CMRC 2018 dev (848 Chinese Wikipedia passages, 3,219 questions): dense
   retrieval nDCG@10 / Recall@10 / MRR@10, exact cosine search. Passages are embedded whole
   (``title + " " + text``, truncated at 512 tokens); ``--cmrc-chunks`` instead splits
   passages longer than the model's window into token windows and scores a document by its
   best window. Only the ``text`` of each query is read, never its id or metadata.

Prints a table and writes ``embedders.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import load_beir, machine  # noqa: E402

from lore.config import EmbedConfig  # noqa: E402
from lore.embed.protocol import Embedder  # noqa: E402
from lore.embed.registry import create_embedder  # noqa: E402
from lore.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def read_corpus(path: Path, limit: int | None = None) -> dict[str, str]:
    """``{doc id: title + " " + text}`` for the first ``limit`` documents of a BEIR corpus."""
    corpus: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(corpus) >= limit:
                break
            record = json.loads(line)
            corpus[record["_id"]] = f"{record.get('title', '')} {record['text']}".strip()
    return corpus


def load() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return one, five, fifteen


def measure_throughput(embedder: Embedder, passages: list[str], repeats: int
                       ) -> list[dict[str, Any]]:
    embedder.embed_documents(passages[:16])  # load the weights, warm oneDNN up
    runs = []
    for _ in range(repeats):
        before = load()
        started, cpu = time.perf_counter(), time.process_time()
        embedder.embed_documents(passages)
        seconds = time.perf_counter() - started
        runs.append({"seconds": seconds, "docs_per_second": len(passages) / seconds,
                     "cpu_seconds": time.process_time() - cpu,  # all threads; spin-waits too
                     "load_before": before, "load_after": load()})
    return runs


def measure_queries(embedder: Embedder, queries: list[str]) -> dict[str, float]:
    for text in queries[:10]:
        embedder.embed_query(text)
    latencies = []
    for text in queries:
        started = time.perf_counter()
        embedder.embed_query(text)
        latencies.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(latencies),
            "p95_ms": sorted(latencies)[int(0.95 * len(latencies))], "queries": len(latencies)}


def token_windows(embedder: Embedder, text: str) -> list[str]:
    """``text`` cut into consecutive pieces of at most ``embedder.max_tokens`` tokens, at
    character boundaries found by bisection on ``count_tokens`` (CMRC is Chinese: few spaces)."""
    pieces = []
    while text:
        if embedder.count_tokens([text])[0] <= embedder.max_tokens:
            pieces.append(text)
            break
        low, high = 1, len(text)
        while low < high:  # the longest prefix that fits
            middle = (low + high + 1) // 2
            if embedder.count_tokens([text[:middle]])[0] <= embedder.max_tokens:
                low = middle
            else:
                high = middle - 1
        pieces.append(text[:low])
        text = text[low:]
    return pieces


def measure_cmrc(embedder: Embedder, data: Path, chunks: bool) -> dict[str, Any]:
    corpus = read_corpus(data / "corpus.jsonl")
    queries, qrels = load_beir(data, "test")
    doc_ids = list(corpus)
    texts = [corpus[doc_id] for doc_id in doc_ids]
    counts = embedder.count_tokens(texts)
    owners, passages = [], []
    for row, text in enumerate(texts):
        windows = token_windows(embedder, text) if chunks else [text]
        owners += [row] * len(windows)
        passages += windows
    started = time.perf_counter()
    vectors = embedder.embed_documents(passages)
    passage_seconds = time.perf_counter() - started
    owner = np.array(owners)
    run: dict[str, list[str]] = {}
    latencies = []
    for qid, text in queries.items():
        started = time.perf_counter()
        query = embedder.embed_query(text)
        latencies.append((time.perf_counter() - started) * 1000)
        best = np.full(len(doc_ids), -np.inf, dtype=np.float32)
        np.maximum.at(best, owner, vectors @ query)  # a document scores its best window
        run[qid] = [doc_ids[i] for i in np.argsort(-best)[:10]]
    return {
        "passages": "token windows, max per document" if chunks else "whole, truncated",
        "documents": len(doc_ids), "embedded_passages": len(passages),
        "documents_over_window": sum(count > embedder.max_tokens for count in counts),
        "queries": len(queries), "passage_seconds": passage_seconds,
        "query_median_ms": statistics.median(latencies),
        "ndcg@10": ndcg_at_k(run, qrels, 10).mean,
        "recall@10": recall_at_k(run, qrels, 10).mean,
        "mrr@10": mrr_at_k(run, qrels, 10).mean,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["minilm", "e5-small"])
    parser.add_argument("--limit", type=int, default=1000, help="SciFact abstracts to embed")
    parser.add_argument("--repeats", type=int, default=3, help="timed throughput runs")
    parser.add_argument("--queries", type=int, default=300, help="SciFact queries to time")
    parser.add_argument("--batch-size", type=int, default=EmbedConfig().batch_size)
    parser.add_argument("--scifact", type=Path, default=DATA / "scifact")
    parser.add_argument("--cmrc", type=Path, default=DATA / "cmrc2018-dev")
    parser.add_argument("--cmrc-chunks", action="store_true",
                        help="split long CMRC passages into windows (default: truncate)")
    parser.add_argument("--no-cmrc", action="store_true", help="skip the CMRC quality run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    import torch

    passages = list(read_corpus(args.scifact / "corpus.jsonl", args.limit).values())
    queries, _ = load_beir(args.scifact, "test")
    result: dict[str, Any] = {
        "machine": {**machine(), "torch_threads": torch.get_num_threads()},
        "load_at_start": load(), "abstracts": len(passages), "batch_size": args.batch_size,
        "models": {},
    }
    for name in args.models:
        embedder = create_embedder(EmbedConfig(model=name, batch_size=args.batch_size))
        counts = embedder.count_tokens(passages)
        row: dict[str, Any] = {
            "max_tokens": embedder.max_tokens,
            "mean_tokens": statistics.mean(min(c, embedder.max_tokens) for c in counts),
            "truncated": sum(c > embedder.max_tokens for c in counts),
            "throughput": measure_throughput(embedder, passages, args.repeats),
            "query": measure_queries(embedder, list(queries.values())[:args.queries]),
        }
        if name == "e5-small" and not args.no_cmrc:
            row["cmrc"] = measure_cmrc(embedder, args.cmrc, args.cmrc_chunks)
        result["models"][name] = row
    result["load_at_end"] = load()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "embedders.json").write_text(json.dumps(result, indent=2))
    print_table(result)


def print_table(result: dict[str, Any]) -> None:
    info = result["machine"]
    print(f"\n{result['abstracts']} SciFact abstracts on {info['cpu']}, {info['cpus']} cpus, "
          f"torch {info['versions']['torch']} ({info['torch_threads']} threads)")
    print("| model | docs/s (best) | docs/s (each run) | load 1-min (each run) "
          "| mean tokens | truncated | query median ms |")
    print("|---|---|---|---|---|---|---|")
    for name, row in result["models"].items():
        rates = [run["docs_per_second"] for run in row["throughput"]]
        loads = [run["load_before"][0] for run in row["throughput"]]
        print(f"| {name} | {max(rates):.1f} | {', '.join(f'{r:.1f}' for r in rates)} "
              f"| {', '.join(f'{x:.2f}' for x in loads)} | {row['mean_tokens']:.0f} "
              f"| {row['truncated']} | {row['query']['median_ms']:.2f} |")
    for name, row in result["models"].items():
        if "cmrc" in row:
            cmrc = row["cmrc"]
            print(f"\nCMRC 2018 dev, {name} alone ({cmrc['passages']}; "
                  f"{cmrc['documents_over_window']} of {cmrc['documents']} passages over the "
                  f"window): nDCG@10 {cmrc['ndcg@10']:.4f}, Recall@10 {cmrc['recall@10']:.4f}, "
                  f"MRR@10 {cmrc['mrr@10']:.4f}; passages {cmrc['passage_seconds']:.1f} s, "
                  f"query median {cmrc['query_median_ms']:.2f} ms")


if __name__ == "__main__":
    main()
