"""Calibrating "not in the knowledge base": the best dense score of questions the knowledge
base can answer, against questions it cannot.

For each embedder, every shared set's questions are searched in their own set's knowledge base
(answerable) and in an unrelated set's (unanswerable: SciFact claims in SQuAD's Wikipedia
paragraphs, SQuAD questions in SciFact's abstracts ...). The floor is the best dense score that
still lets 97.5% of each set's answerable questions through; the table shows how many
unanswerable ones it stops. Writes results/relevance.json;
``lore.generate.answer.RELEVANCE_FLOORS`` holds the floors.

    python benchmarks/relevance.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from common import machine
from rich.console import Console
from rich.table import Table

from lore.config import LoreConfig
from lore.embed.e5 import default_cache_dir
from lore.eval.beir import BeirSet, load_beir
from lore.eval.retrieval import corpus_key, open_indexed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "relevance.json"
PASS_RATE = 0.975
"""Share of answerable questions the floor must let through."""
QUESTIONS = 300
"""Questions per set (the first in file order)."""
PAIRS = {
    # embedder: [(questions of, knowledge base of), ...]
    "minilm": [("scifact", "squad-v1.1-dev"), ("squad-v1.1-dev", "scifact"),
               ("hotpotqa-dev-distractor-500", "scifact"),
               ("scifact", "hotpotqa-dev-distractor-500")],
    "e5-small": [("scifact", "hotpotqa-dev-distractor-500"),
                 ("hotpotqa-dev-distractor-500", "scifact"), ("cmrc2018-dev", "scifact"),
                 ("cmrc2018-dev", "hotpotqa-dev-distractor-500")],
}


def best_dense(questions: list[str], kb_set: str, model: str, config: LoreConfig) -> np.ndarray:
    dataset = load_beir(DATA / kb_set, "test", 1)
    cache = default_cache_dir(os.environ) / "eval"
    # The knowledge base ``auto`` built, when it chose this model (the one eval runs share).
    chosen = None if (cache / corpus_key(dataset, config.embed.model, config)).exists() and \
        _recorded(dataset, cache, config) == model else model
    with open_indexed(dataset, cache, config, chosen) as kb:
        return np.array([max((h.score for h in kb.search(q, k=5, mode="dense")), default=0.0)
                         for q in questions])


def _recorded(dataset: BeirSet, cache: Path, config: LoreConfig) -> str:
    with open_indexed(dataset, cache, config) as kb:
        return kb.status().embedder


def questions_of(name: str) -> list[str]:
    return list(load_beir(DATA / name, "test", QUESTIONS).queries.values())


def main() -> int:
    config = LoreConfig.from_env(os.environ)
    results: dict[str, dict[str, object]] = {}
    for model, pairs in PAIRS.items():
        own = sorted({name for pair in pairs for name in pair[:1]})
        per_set = {n: best_dense(questions_of(n), n, model, config) for n in own}
        # Every set must keep its own pass rate: sets differ (SQuAD's questions score lower).
        floor = min(float(np.quantile(v, 1 - PASS_RATE)) for v in per_set.values())
        stopped = {}
        for asked, kb_set in pairs:
            negatives = best_dense(questions_of(asked), kb_set, model, config)
            stopped[f"{asked} in {kb_set}"] = float((negatives < floor).mean())
        results[model] = {"floor": round(floor, 4), "answerable_passed": {
            n: float((v >= floor).mean()) for n, v in per_set.items()},
            "unanswerable_stopped": stopped}
    table = Table(title=f"relevance floor (lets {PASS_RATE:.1%} of answerable questions through)")
    for column in ("embedder", "floor", "unanswerable questions stopped"):
        table.add_column(column)
    for model, row in results.items():
        stops = row["unanswerable_stopped"]
        assert isinstance(stops, dict)
        table.add_row(model, f"{row['floor']:.4f}",
                      "; ".join(f"{k}: {v:.1%}" for k, v in stops.items()))
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
