"""Synthetic questions on SciFact's corpus: how fast the local model writes them and how many
survive the round trip (hybrid search finds their chunk among the first 20).

    python benchmarks/synthetic.py --count 100               # qwen-0.5b, seed 0

The knowledge base is the cached one of ``lore eval retrieval``; questions are journaled in
its ``training/`` folder, so a rerun with a larger ``--count`` writes only the new ones (the
time reported is this run's, with the count it wrote). Writes ``results/synthetic.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import machine
from rich.console import Console

from lore.config import LoreConfig
from lore.eval.beir import load_beir
from lore.eval.retrieval import open_indexed
from lore.models.files import default_cache_dir
from lore.synthesis import synthetic_pairs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "synthetic.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="scifact")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="the writing model (default qwen-0.5b)")
    args = parser.parse_args()
    config = LoreConfig.from_env(os.environ)
    dataset = load_beir(DATA / args.set, "test")
    with open_indexed(dataset, default_cache_dir(os.environ) / "eval", config) as kb:
        journal = kb.directory / "training"
        before = sum(len(p.read_text().splitlines()) for p in journal.glob("*.jsonl")) \
            if journal.is_dir() else 0
        started = time.perf_counter()
        pairs, report = synthetic_pairs(kb, args.count, args.seed, args.model)
        seconds = time.perf_counter() - started
        written_now = sum(len(p.read_text().splitlines()) for p in journal.glob("*.jsonl")) \
            - before
    result = {"count": args.count, "written": report.written, "kept": report.kept,
              "dropped": report.dropped, "written_this_run": written_now,
              "seconds": round(seconds, 1),
              "seconds_per_question": round(seconds / max(1, written_now), 2),
              "examples": [pair.query for pair in pairs.pairs[:10]]}
    Console().print(result)
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else {}
    runs[f"{args.set}-{args.model or config.generate.model}-seed{args.seed}"] = result
    RESULTS.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2,
                                  ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
