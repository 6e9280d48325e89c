"""Code search on CoSQA: which view of a function should search read?

CoSQA pairs web queries with Python functions (the CoCLR protocol: rank all 6,267 functions).
Each function is indexed three ways (``ingest.code_view``): the natural-language description
lore builds by program analysis (split name, signature, docstring, comments), the raw code,
and both. Every view is searched lexically, densely and fused.

    python benchmarks/code_view.py      # writes results/code_view.json and .md
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from common import machine
from rich.console import Console

from lore.config import LoreConfig
from lore.eval.beir import load_beir
from lore.eval.retrieval import EvalSettings, evaluate, open_indexed
from lore.models.files import default_cache_dir

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cosqa"
RESULTS = Path(__file__).resolve().parent / "results"
VIEWS = ("description", "code", "both")
MODES = ("lexical", "dense", "hybrid")


def main() -> int:
    dataset = load_beir(DATA, "test")
    base = LoreConfig.from_env(os.environ)
    rows = []
    for view in VIEWS:
        config = replace(base, ingest=replace(base.ingest, code_view=view))
        with open_indexed(dataset, default_cache_dir(os.environ) / "eval", config) as kb:
            for mode in MODES:
                report, _ = evaluate(kb, dataset, EvalSettings(mode=mode))
                rows.append({"view": view, "mode": mode, "embedder": report.embedder,
                             "fusion": config.retrieve.fusion, **report.metrics})
    lines = ["| view | mode | nDCG@10 | MRR@10 | Recall@10 |", "|---|---|---|---|---|"]
    lines += [f"| {r['view']} | {r['mode']} | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | "
              f"{r['recall@10']:.4f} |" for r in rows]
    text = "# CoSQA (test, 500 queries): code views\n\n" + "\n".join(lines) + "\n"
    Console().print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "code_view.md").write_text(text)
    (RESULTS / "code_view.json").write_text(json.dumps({"machine": machine(), "rows": rows},
                                                       indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
