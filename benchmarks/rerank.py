"""LLM-judge reranking on SciFact: nDCG@10 before and after, and what it costs per query.

    python benchmarks/rerank.py [--queries 60] [--depths 10 20] [--models qwen-0.5b smollm2]

Rows of models not measured in this run are kept from ``rerank.json`` when it was written for
the same queries and passage budget, so models can be measured one run at a time.

1. A lore knowledge base of the SciFact corpus (MiniLM, hybrid search), built once and kept
   under ``benchmarks/.cache/`` (re-indexing an unchanged corpus costs a second).
2. A fixed random subset of the test queries (``--queries``, seed ``--seed``): the judge
   evaluates ~190 prompt tokens per passage, so all 300 queries at depth 20 would take hours
   on 2 cores. Baseline and reranked runs are scored on the SAME subset; the baseline on all
   300 queries is printed too, to show how typical the subset is.
3. For each query: hybrid search (100 chunks), one hit per document (its best chunk), then
   the judge scores the first ``max(depths)`` documents, in slices of the depths, so the time
   of a depth-10 rerank is the first slice's time (it pays for the query prefix) and a
   depth-20 rerank adds the second. Passages are cut to ``--passage-tokens`` tokens.
   Documents past the depth keep their hybrid order.

Prints a table and writes ``rerank.json``: nDCG@10 / MRR@10 per model and depth, the added
latency per query (median, p90), prompt tokens evaluated per query, and the prompt throughput.
"""

from __future__ import annotations

import os

# llama.cpp runs its threads through OpenMP, whose threads spin while they wait: on a machine
# shared with other busy processes that costs 5x (14 against 76 prompt tokens/s for SmolLM2
# on 2 cores at load average 10). Passive waiting must be chosen before libgomp loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import itertools
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import doc_ranking, load_beir, machine  # noqa: E402

import lore  # noqa: E402
from lore.eval.metrics import mrr_at_k, ndcg_at_k  # noqa: E402
from lore.rerank.llm import LlmReranker  # noqa: E402
from lore.rerank.reorder import order_by_scores  # noqa: E402
from lore.types import Hit  # noqa: E402

CANDIDATES = 100


def best_chunk_per_document(hits: list[Hit]) -> list[Hit]:
    """The first (best) hit of each document, in order."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = hit.doc_key or hit.path
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def retrieve(kb_dir: Path, corpus: Path, queries: dict[str, str]) -> dict[str, list[Hit]]:
    with lore.open(kb_dir) as kb:
        started = time.perf_counter()
        report = kb.index([corpus])
        print(f"knowledge base {kb_dir}: {report.documents_added} documents added, "
              f"{report.files_unchanged} files unchanged ({time.perf_counter() - started:.0f} s)",
              flush=True)
        return {qid: best_chunk_per_document(kb.search(text, k=CANDIDATES, mode="hybrid"))
                for qid, text in queries.items()}


@dataclass
class Depth:
    """One model at one depth: the reranked document runs and what each query cost."""

    runs: dict[str, list[str]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)

    def summary(self, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
        ordered = sorted(self.seconds)
        return {**metrics(self.runs, qrels), "median_s": statistics.median(ordered),
                "p90_s": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
                "mean_prompt_tokens": statistics.mean(self.tokens),
                "prompt_tokens_per_s": sum(self.tokens) / sum(self.seconds)}


def judge(model: str, queries: dict[str, str], hits: dict[str, list[Hit]], depths: list[int],
          passage_tokens: int) -> dict[int, Depth]:
    """Rerank every query's first ``max(depths)`` documents, one slice per depth."""
    reranker = LlmReranker(model, passage_tokens=passage_tokens)
    reranker.score("warm up", ["load the model"])
    bounds = [0, *sorted(depths)]
    out = {depth: Depth() for depth in depths}
    for n, (qid, text) in enumerate(queries.items(), start=1):
        head = hits[qid][:bounds[-1]]
        elapsed, evaluated, scores = 0.0, 0, np.empty(0, dtype=np.float32)
        for low, high in itertools.pairwise(bounds):
            before = reranker.tokens_evaluated
            started = time.perf_counter()
            part = reranker.score(text, [hit.chunk.view for hit in head[low:high]])
            elapsed += time.perf_counter() - started
            evaluated += reranker.tokens_evaluated - before
            scores = np.concatenate([scores, part])
            reranked = order_by_scores(head[:high], scores[:high])
            out[high].runs[qid] = doc_ranking(reranked + hits[qid][high:])
            out[high].seconds.append(elapsed)
            out[high].tokens.append(evaluated)
        print(f"  {model}: {n}/{len(queries)} queries, last {elapsed:.1f} s", end="\r",
              flush=True)
    print()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--kb", type=Path, default=ROOT / "benchmarks" / ".cache" / "scifact-kb")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--models", nargs="+", default=["qwen-0.5b", "smollm2"])
    parser.add_argument("--passage-tokens", type=int, default=160)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    all_queries, qrels = load_beir(args.data, "test")
    chosen = sorted(random.Random(args.seed).sample(sorted(all_queries), args.queries))
    queries = {qid: all_queries[qid] for qid in chosen}
    hits = retrieve(args.kb, args.data / "corpus.jsonl", all_queries)
    baseline = {qid: doc_ranking(hits[qid]) for qid in all_queries}
    reranked = earlier_results(args.out / "rerank.json", chosen, args.passage_tokens)
    host: dict[str, object] = {**machine(), "load_average_at_start": os.getloadavg(),
                               "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    result = {
        "machine": host,
        "setup": {"queries": len(chosen), "of": len(all_queries), "seed": args.seed,
                  "query_ids": chosen, "depths": args.depths, "candidates": CANDIDATES,
                  "passage_tokens": args.passage_tokens, "retrieval": "hybrid (weighted)",
                  "unit": "documents (best chunk each)"},
        "baseline_all_queries": metrics(baseline, qrels),
        "baseline": metrics({qid: baseline[qid] for qid in chosen}, qrels),
        "rerank": reranked,
    }
    for model in args.models:
        per_depth = judge(model, queries, hits, args.depths, args.passage_tokens)
        reranked[model] = {str(depth): row.summary(qrels) for depth, row in per_depth.items()}
        host[f"load_average_after_{model}"] = os.getloadavg()
        write(args.out, result)
    print_table(result)


def earlier_results(path: Path, chosen: list[str], passage_tokens: int
                    ) -> dict[str, dict[str, dict[str, float]]]:
    """Other models' rows from an earlier run on the same queries and passage budget, so
    that models can be measured one run at a time (``--models smollm2 --depths 10``)."""
    try:
        earlier = json.loads(path.read_text())
        same = earlier["setup"]["query_ids"] == chosen and \
            earlier["setup"]["passage_tokens"] == passage_tokens
    except (OSError, ValueError, KeyError):
        return {}
    return dict(earlier["rerank"]) if same else {}


def metrics(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Means over the queries in ``run`` (the metrics average over the qrels they are given,
    so a subset's run is scored against the subset's judgments only)."""
    judged = {qid: qrels[qid] for qid in run}
    return {"ndcg@10": ndcg_at_k(run, judged, 10).mean, "mrr@10": mrr_at_k(run, judged, 10).mean}


def write(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "rerank.json.tmp").write_text(json.dumps(result, indent=2))
    (out / "rerank.json.tmp").replace(out / "rerank.json")


def print_table(result: dict[str, Any]) -> None:
    setup, base, host = result["setup"], result["baseline"], result["machine"]
    print(f"\nSciFact test, {setup['queries']} of {setup['of']} queries (seed {setup['seed']}); "
          f"hybrid top {setup['candidates']} chunks -> documents; passages cut to "
          f"{setup['passage_tokens']} tokens; {host['cpu']}, {host['cpus']} cpus")
    print(f"baseline on all {setup['of']} queries: nDCG@10 "
          f"{result['baseline_all_queries']['ndcg@10']:.4f}\n")
    print("| reranker | depth | nDCG@10 | MRR@10 | added latency median / p90 (s) "
          "| prompt tokens / query | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| none (hybrid) | - | {base['ndcg@10']:.4f} | {base['mrr@10']:.4f} | - | - | - |")
    for model, depths in result["rerank"].items():
        for depth, row in depths.items():
            print(f"| llm:{model} | {depth} | {row['ndcg@10']:.4f} | {row['mrr@10']:.4f} "
                  f"| {row['median_s']:.2f} / {row['p90_s']:.2f} "
                  f"| {row['mean_prompt_tokens']:.0f} | {row['prompt_tokens_per_s']:.0f} |")


if __name__ == "__main__":
    main()
