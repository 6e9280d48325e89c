"""Calibrating "not in the knowledge base": the relevance of questions the knowledge base can
answer, against questions it cannot.

Relevance is what the answer step's gate compares with the floor
(``lore.generate.answer.relevance``): the best dense score among the retrieved passages, or
infinity when one holds every question term. Questions are searched as ``lore ask`` searches
(hybrid, ``K`` passages), in their own set's knowledge base (answerable) and in an unrelated
set's (unanswerable: SciFact claims in SQuAD's Wikipedia paragraphs, SQuAD questions in
SciFact's abstracts ...). The floor is the highest that still lets 97.5% of each set's
answerable questions through; the table shows how many unanswerable ones it stops.

Answerable questions are a seeded sample that leaves out the questions
``benchmarks/qa.py`` asks (``HELD_OUT``), so the floor is not tuned on them. Writes
results/relevance.json; each embedder's registry entry (``lore.embed.registry``) holds its floor.

    python benchmarks/relevance.py
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
from pathlib import Path

import numpy as np
from common import machine
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lore.config import LoreConfig
from lore.eval.beir import BeirSet, load_beir
from lore.eval.qa import load_qa
from lore.eval.retrieval import corpus_key, open_indexed
from lore.generate.answer import relevance
from lore.models.files import default_cache_dir

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "relevance.json"
PASS_RATE = 0.975
"""Share of answerable questions the floor must let through."""
QUESTIONS = 300
"""Questions per set, a sample drawn with ``SEED``."""
SEED = 1
K = 3
"""Passages searched per question: the fewest the QA benchmarks ask with (``lore ask`` takes
5). More passages can only raise the best dense score, so the floor errs towards answering."""
HELD_OUT = {"squad-v1.1-dev": 500, "cmrc2018-dev": 300, "hotpotqa-dev-distractor-500": 100}
"""The seed-0 samples ``benchmarks/qa.py`` asks, by set: never calibrated on."""
PAIRS = {
    # embedder: [(questions of, knowledge base of), ...]
    "minilm": [("scifact", "squad-v1.1-dev"), ("squad-v1.1-dev", "scifact"),
               ("hotpotqa-dev-distractor-500", "scifact"),
               ("scifact", "hotpotqa-dev-distractor-500")],
    "e5-small": [("scifact", "hotpotqa-dev-distractor-500"),
                 ("hotpotqa-dev-distractor-500", "scifact"), ("cmrc2018-dev", "scifact"),
                 ("cmrc2018-dev", "hotpotqa-dev-distractor-500")],
}


def relevances(questions: list[str], kb_set: str, model: str, config: LoreConfig
               ) -> np.ndarray:
    dataset = load_beir(DATA / kb_set, "test", 1)
    cache = default_cache_dir(os.environ) / "eval"
    # The knowledge base ``auto`` built, when it chose this model (the one eval runs share).
    chosen = None if (cache / corpus_key(dataset, config.embed.model, config)).exists() and \
        _recorded(dataset, cache, config) == model else model
    with open_indexed(dataset, cache, config, chosen) as kb, Progress(transient=True) as bar:
        values = []
        for question in bar.track(questions, description=f"{model}: {kb_set}"):
            values.append(relevance(question, kb.passages(kb.search(question, k=K))))
        return np.array(values)


def _recorded(dataset: BeirSet, cache: Path, config: LoreConfig) -> str:
    with open_indexed(dataset, cache, config) as kb:
        return kb.status().embedder


def questions_of(name: str) -> list[str]:
    """A seeded sample of the set's questions, less those the QA benchmark asks."""
    queries = load_beir(DATA / name, "test", None).queries
    if name in HELD_OUT:
        asked = {item.id for item in load_qa(DATA / name, HELD_OUT[name], 0).items}
        queries = {qid: text for qid, text in queries.items() if qid not in asked}
    return random.Random(SEED).sample(list(queries.values()), min(QUESTIONS, len(queries)))


def main() -> int:
    config = LoreConfig.from_env(os.environ)
    results: dict[str, dict[str, object]] = {}
    for model, pairs in PAIRS.items():
        own = sorted({name for pair in pairs for name in pair[:1]})
        per_set = {n: relevances(questions_of(n), n, model, config) for n in own}
        # Every set must keep its own pass rate: sets differ (SQuAD's questions score lower).
        floor = min(float(np.quantile(v, 1 - PASS_RATE, method="lower"))
                    for v in per_set.values())
        floor = math.floor(floor * 1e4) / 1e4  # rounded down, so it stops no more
        stopped = {}
        for asked, kb_set in pairs:
            negatives = relevances(questions_of(asked), kb_set, model, config)
            stopped[f"{asked} in {kb_set}"] = float((negatives < floor).mean())
        results[model] = {"floor": floor, "answerable_passed": {
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
