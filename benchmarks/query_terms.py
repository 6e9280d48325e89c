"""A query term repeated: counted once, or as often as the query says it (Lucene, bm25s).

    python benchmarks/query_terms.py                          # SciFact and CoSQA test queries
    python benchmarks/query_terms.py --sets scifact,hotpotqa-dev-distractor-500
    python benchmarks/query_terms.py --sets scifact --split train

Lexical search only, over the chunks of the cached knowledge base ``lore eval retrieval``
builds, at lore's default k1 and b: each test query is searched with its analysed terms once
each (lore before this benchmark) and with every occurrence (lore now), side by side. Also
reports how long the queries are and how many repeat a term, which is where the two differ.
Writes ``results/query_terms-<split>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from bm25_params import DATA, lexical_index
from common import machine
from rich.console import Console
from rich.table import Table

from lore.eval.beir import BeirSet, load_beir
from lore.eval.metrics import ndcg_at_k
from lore.store.bm25 import BM25Index
from lore.text.analyze import analyze

RESULTS = Path(__file__).resolve().parent / "results"
FORMS: dict[str, Callable[[list[str]], list[str]]] = {
    "once": lambda terms: list(dict.fromkeys(terms)),
    "repeated": lambda terms: terms,
}


def score(index: BM25Index, documents: dict[int, str], dataset: BeirSet,
          form: Callable[[list[str]], list[str]]) -> float:
    run: dict[str, list[str]] = {}
    for qid, text in dataset.queries.items():
        keys, _ = index.search(form(analyze(text)), 100)
        run[qid] = list(dict.fromkeys(documents[int(k)] for k in keys))
    return float(ndcg_at_k(run, dataset.qrels, 10).mean)


def measure(folder: str, split: str) -> dict[str, float]:
    dataset = load_beir(DATA / folder, split)
    index, documents = lexical_index(load_beir(DATA / folder, "test"))
    terms = [analyze(text) for text in dataset.queries.values()]
    result = {"queries": len(terms),
              "terms_median": statistics.median(len(t) for t in terms),
              "repeating": sum(len(set(t)) < len(t) for t in terms) / len(terms)}
    return result | {form: score(index, documents, dataset, FORMS[form]) for form in FORMS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="scifact,cosqa")
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    results = {folder: measure(folder, args.split) for folder in args.sets.split(",")}
    table = Table(title=f"lexical nDCG@10, {args.split} queries, k1 1.2 / b 0.75")
    for column in ("set", "queries", "terms (median)", "repeat a term", "once", "repeated"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for folder, r in results.items():
        table.add_row(folder, str(r["queries"]), f"{r['terms_median']:g}",
                      f"{r['repeating']:.1%}", f"{r['once']:.4f}", f"{r['repeated']:.4f}")
    Console().print(table)
    report = {"machine": machine(), "split": args.split, "sets": results}
    (RESULTS / f"query_terms-{args.split}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
