"""The graph retriever beside lexical and dense search: does a walk over concepts bring the
second paragraph of a two-hop question into reach?

    python benchmarks/graph_retrieval.py                        # HotpotQA, 500 questions
    python benchmarks/graph_retrieval.py --start 200 --queries 300    # past the 200 tuned on
    python benchmarks/graph_retrieval.py --set scifact --queries 300
    python benchmarks/graph_retrieval.py --seed-chunks 0       # the question's concepts alone
    LORE_GRAPH_WEIGHT=0.2 python benchmarks/graph_retrieval.py  # the graph's share in fusion
    LORE_GRAPH_ANCHOR=0 python benchmarks/graph_retrieval.py    # let the graph reorder every hit

For each set of retrievers (hybrid = lexical + dense; graph alone; all three fused): nDCG@10,
Recall@10, the share of questions with every gold document in the top 5, 10 and 20 (HotpotQA's
two paragraphs), and the median search time. Also the concept index: its build time on the
corpus (the first graph search builds it), concepts and chunks. Prints a table; merges a row
per set and range of questions into ``results/graph_retrieval.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

from lore.api import KnowledgeBase
from lore.config import LoreConfig
from lore.eval.beir import load_beir
from lore.eval.retrieval import open_indexed, score_query
from lore.models.files import default_cache_dir
from lore.retrieve import graph

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"hotpotqa": "hotpotqa-dev-distractor-500", "scifact": "scifact",
        "squad": "squad-v1.1-dev", "cmrc2018": "cmrc2018-dev"}
RESULTS = Path(__file__).resolve().parent / "results"
RUNS = {"hybrid": ("lexical", "dense"), "graph": ("graph",),
        "hybrid+graph": ("lexical", "dense", "graph")}
DEPTH = 100


def run(name: str, queries: int, start: int) -> dict[str, object]:
    dataset = load_beir(DATA / SETS[name], "test", start + queries)
    asked = list(dataset.queries.items())[start:]
    config = LoreConfig.from_env(os.environ)
    with open_indexed(dataset, default_cache_dir(os.environ) / "eval", config) as kb:
        started = time.perf_counter()
        kb.search("warm up the concept index", k=1, retrievers=["graph"], rerank="")
        built = time.perf_counter() - started
        kb.search("warm up the embedder", k=1, rerank="")
        index = kb._concepts.current()
        rows = {label: measure(kb, asked, dataset.qrels, retrievers)
                for label, retrievers in RUNS.items()}
    return {"set": name, "queries": len(asked), "start": start,
            "concept_index_seconds": built,
            "concepts": len(index.names), "chunks": len(index), "runs": rows}


def measure(kb: KnowledgeBase, asked: list[tuple[str, str]], qrels: dict[str, dict[str, int]],
            retrievers: tuple[str, ...]) -> dict[str, float]:
    scores: dict[str, list[float]] = {}
    times = []
    for qid, text in asked:
        started = time.perf_counter()
        hits = kb.search(text, k=DEPTH, retrievers=list(retrievers), rerank="")
        times.append((time.perf_counter() - started) * 1000)
        documents = list(dict.fromkeys(hit.doc_key or hit.path for hit in hits))
        metrics = score_query(documents, qrels[qid])
        gold = {doc for doc, grade in qrels[qid].items() if grade > 0}
        for depth in (5, 10, 20):
            metrics[f"all_gold@{depth}"] = float(gold <= set(documents[:depth]))
        for key in ("ndcg@10", "recall@10", "all_gold@5", "all_gold@10", "all_gold@20"):
            scores.setdefault(key, []).append(metrics[key])
    return {**{key: statistics.fmean(values) for key, values in scores.items()},
            "median_ms": statistics.median(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="hotpotqa", choices=sorted(SETS))
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--start", type=int, default=0,
                        help="skip the first N questions (those a setting was chosen on)")
    parser.add_argument("--seed-chunks", type=int, default=graph.SEED_CHUNKS,
                        help="first lexical hits whose concepts seed the walk (0: none)")
    args = parser.parse_args()
    graph.SEED_CHUNKS = args.seed_chunks
    result = run(args.set, args.queries, args.start)
    last = args.start + int(result["queries"])  # type: ignore[call-overload]
    table = Table("retrievers", "nDCG@10", "Recall@10", "all gold @5", "@10", "@20",
                  "median ms", title=f"{args.set}, questions {args.start + 1}-{last}")
    for label, row in result["runs"].items():  # type: ignore[attr-defined]
        table.add_row(label, *(f"{row[k]:.3f}" for k in ("ndcg@10", "recall@10", "all_gold@5",
                                                          "all_gold@10", "all_gold@20")),
                      f"{row['median_ms']:.1f}")
    Console().print(table)
    print(f"concept index: {result['concepts']} concepts over {result['chunks']} chunks, "
          f"built in {result['concept_index_seconds']:.1f} s")
    path = RESULTS / "graph_retrieval.json"
    kept = json.loads(path.read_text())["runs"] if path.exists() else {}
    settings = LoreConfig.from_env(os.environ).retrieve
    weight, anchor = settings.graph_weight, settings.graph_anchor
    share = "" if weight is None else f":graph{weight:g}"
    key = f"{args.set}:{args.start}:{args.queries}:seeds{args.seed_chunks}{share}:anchor{anchor}"
    kept[key] = {**result, "graph_weight": weight, "graph_anchor": anchor}
    path.write_text(json.dumps({"machine": machine(), "runs": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
