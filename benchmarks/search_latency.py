"""Search latency of this tree against another commit, side by side in one run.

    python benchmarks/search_latency.py --baseline HEAD~5          # SciFact, hybrid, 3 rounds
    python benchmarks/search_latency.py --baseline v0.1 --sets scifact,cmrc2018 --rounds 5

The baseline is checked out into a temporary git worktree. Each round runs every query of
each set once in a fresh process per tree, the trees taking turns (baseline, this tree,
baseline, ...), so both meet the same machine load; both search the same cached index (the
one ``lore eval retrieval`` builds). Prints the median and 90th percentile of one search,
query embedding included, per tree and round, and writes ``results/search_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETS = {"scifact": "scifact", "cosqa": "cosqa", "cmrc2018": "cmrc2018-dev",
        "hotpotqa": "hotpotqa-dev-distractor-500", "squad": "squad-v1.1-dev"}
RESULTS = Path(__file__).resolve().parent / "results" / "search_latency.json"

TIMER = """
import json, os, sys, time
from pathlib import Path
from lore.config import LoreConfig
from lore.eval.beir import load_beir
from lore.eval.retrieval import open_indexed
folder, mode, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
dataset = load_beir(folder, "test", limit or None)
config = LoreConfig.from_env(os.environ)
cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lore" / "eval"
with open_indexed(dataset, cache, config) as kb:
    first = next(iter(dataset.queries.values()))
    kb.search(first, k=10, mode=mode)  # loads the model and the indexes: not timed
    times = []
    for text in dataset.queries.values():
        started = time.perf_counter()
        kb.search(text, k=10, mode=mode)
        times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times))
"""


def worktree(revision: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), revision],
                   check=True, capture_output=True)
    return into


def time_searches(tree: Path, folder: Path, mode: str, limit: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    result = subprocess.run([sys.executable, "-c", TIMER, str(folder), mode, str(limit)],
                            env=env, capture_output=True, text=True, check=True)
    return [float(t) for t in json.loads(result.stdout.strip().splitlines()[-1])]


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a git revision to compare with")
    parser.add_argument("--sets", default="scifact", help="comma-separated set names")
    parser.add_argument("--mode", default="hybrid", choices=["lexical", "dense", "hybrid"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="first N queries (0: all)")
    args = parser.parse_args()
    revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
                              check=True, capture_output=True, text=True).stdout.strip()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        trees = {f"baseline {revision}": worktree(args.baseline, Path(scratch) / "baseline"),
                 "this tree": ROOT}
        try:
            for name in args.sets.split(","):
                for round_ in range(1, args.rounds + 1):
                    for label, tree in trees.items():
                        times = time_searches(tree, DATA / SETS[name], args.mode, args.limit)
                        rows.append({"set": name, "tree": label, "round": round_,
                                     "queries": len(times), **summary(times)})
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(trees[f"baseline {revision}"])], check=False)
    table = Table(title=f"{args.mode} search latency, ms (one search, query embedding included)")
    for column in ("set", "tree", "round", "queries", "median", "p90"):
        table.add_column(column, justify="left" if column in ("set", "tree") else "right")
    for row in rows:
        table.add_row(*(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c])
                        for c in ("set", "tree", "round", "queries", "median", "p90")))
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "mode": args.mode,
                                   "baseline": revision, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
