"""BM25's k1 and b: chosen on a set's training queries, confirmed on its test queries.

    python benchmarks/bm25_params.py                       # SciFact (train) and CoSQA (dev)
    python benchmarks/bm25_params.py --sets scifact --k1 0.9,1.2,1.5 --b 0.5,0.75

Lexical search only, over the chunks of the cached knowledge base ``lore eval retrieval``
builds (the same analysed terms), so only the two parameters change. For each (k1, b) it
scores nDCG@10 on the fitting split; the best pair and lore's default (1.2, 0.75) are then
scored on the test split, which the choice never saw. Writes ``results/bm25_params.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import machine
from rich.console import Console
from rich.table import Table

from lore.config import LoreConfig
from lore.eval.beir import BeirSet, load_beir
from lore.eval.metrics import ndcg_at_k
from lore.eval.retrieval import corpus_key, open_indexed
from lore.models.files import default_cache_dir
from lore.store.bm25 import BM25Index
from lore.store.sqlite import STORE_FILE, SqliteStore
from lore.text.analyze import analyze

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"scifact": ("scifact", "train"), "cosqa": ("cosqa", "dev")}
"""Set name -> (folder, the split k1 and b are fitted on); each is confirmed on ``test``."""
RESULTS = Path(__file__).resolve().parent / "results" / "bm25_params.json"
DEFAULT = (1.2, 0.75)


def lexical_index(dataset: BeirSet) -> tuple[BM25Index, dict[int, str]]:
    """The knowledge base's terms in a fresh BM25 index, and each chunk's document id."""
    config = LoreConfig.from_env(os.environ)
    cache = default_cache_dir(os.environ) / "eval"
    open_indexed(dataset, cache, config).close()  # indexed, as the eval command would
    store = SqliteStore(cache / corpus_key(dataset, config.embed.model, config) / STORE_FILE)
    try:
        keys, texts = store.chunk_terms()
        index = BM25Index()
        index.add(keys, [text.split() for text in texts])
        rows = store.chunks(keys.tolist())
    finally:
        store.close()
    return index, {key: row.doc_key for key, row in rows.items()}


def score(index: BM25Index, documents: dict[int, str], dataset: BeirSet) -> float:
    run: dict[str, list[str]] = {}
    for qid, text in dataset.queries.items():
        keys, _ = index.search(analyze(text), 100)
        run[qid] = list(dict.fromkeys(documents[int(k)] for k in keys))
    return float(ndcg_at_k(run, dataset.qrels, 10).mean)


def fit(name: str, grid: Sequence[tuple[float, float]]) -> dict[str, object]:
    folder, fitting = SETS[name]
    train, test = load_beir(DATA / folder, fitting), load_beir(DATA / folder, "test")
    index, documents = lexical_index(test)
    fitted = {}
    for k1, b in grid:
        index.set_parameters(k1, b)
        fitted[f"{k1}/{b}"] = score(index, documents, train)
    best = max(grid, key=lambda pair: fitted[f"{pair[0]}/{pair[1]}"])
    confirmed = {}
    for k1, b in dict.fromkeys([DEFAULT, best]):
        index.set_parameters(k1, b)
        confirmed[f"{k1}/{b}"] = score(index, documents, test)
    return {"fitted_on": fitting, "queries": [len(train.queries), len(test.queries)],
            "fit": fitted, "best": f"{best[0]}/{best[1]}", "test": confirmed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--k1", default="0.6,0.9,1.2,1.5,2.0")
    parser.add_argument("--b", default="0.3,0.5,0.75,0.9")
    args = parser.parse_args()
    grid = [(float(k1), float(b)) for k1 in args.k1.split(",") for b in args.b.split(",")]
    results = {name: fit(name, grid) for name in args.sets.split(",")}
    table = Table(title="lexical nDCG@10 by BM25 k1 / b: fitted on one split, confirmed on test")
    for column in ("set", "k1 / b", "fitting split", "test"):
        table.add_column(column, justify="left" if column in ("set", "k1 / b") else "right")
    for name, result in results.items():
        fitted, test = result["fit"], result["test"]
        assert isinstance(fitted, dict) and isinstance(test, dict)
        for label in dict.fromkeys([f"{DEFAULT[0]}/{DEFAULT[1]}", str(result["best"])]):
            table.add_row(name, label + (" (default)" if label == "1.2/0.75" else " (best)"),
                          f"{fitted[label]:.4f}", f"{test[label]:.4f}")
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "grid": grid, "sets": results},
                                  indent=2) + "\n")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
