"""The quality table: lexical, dense and hybrid retrieval on the five shared sets.

One command regenerates it; every later change is judged against it.

    python benchmarks/quality.py                  # all sets, all modes (~40 min on 2 cores
                                                  # the first time, while corpora are indexed)
    python benchmarks/quality.py --sets scifact --modes hybrid

Writes ``results/quality.md`` and ``results/quality.json`` (machine, versions, settings). Each
corpus is indexed with ``lore eval retrieval``'s code path into its cache, so a second run only
searches. Besides nDCG@10, Recall@10/100 and MRR@10 the table gives, for sets whose queries
have several relevant documents (HotpotQA's two gold paragraphs), the share of queries with
all of them in the top 10.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from common import all_relevant_share, machine
from rich.console import Console

from lore.config import LoreConfig
from lore.eval.beir import load_beir
from lore.eval.report import markdown_table
from lore.eval.retrieval import EvalSettings, RetrievalReport, evaluate, open_indexed
from lore.models.files import default_cache_dir

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"scifact": "scifact", "cosqa": "cosqa", "cmrc2018": "cmrc2018-dev",
        "hotpotqa": "hotpotqa-dev-distractor-500", "squad": "squad-v1.1-dev"}
GOALS = {"scifact": 0.74, "cosqa": 0.61, "cmrc2018": 0.99, "hotpotqa": 0.81, "squad": 0.90}
"""nDCG@10 the default hybrid search is to reach (issue: measure retrieval and raise it)."""
RESULTS = Path(__file__).resolve().parent / "results"


def run_set(name: str, modes: list[str], config: LoreConfig) -> list[dict[str, object]]:
    dataset = load_beir(DATA / SETS[name], "test")
    started = time.perf_counter()
    with open_indexed(dataset, default_cache_dir(os.environ) / "eval", config) as kb:
        indexed = time.perf_counter() - started
        rows = []
        for mode in modes:
            report, traces = evaluate(kb, dataset, EvalSettings(mode=mode))  # type: ignore[arg-type]
            share = all_relevant_share(traces, dataset.qrels)
            row: dict[str, object] = asdict(report)
            row["set"] = name
            row["open_and_index_seconds"] = round(indexed, 2)
            if share is not None:
                row["all_relevant_in_top10"] = share
            rows.append(row)
    return rows


def verdicts(rows: list[dict[str, object]]) -> dict[str, str]:
    """Per set: does hybrid reach its goal and the better of lexical and dense?"""
    out = {}
    for name in {str(r["set"]) for r in rows}:
        score = {str(r["mode"]): r["metrics"]["ndcg@10"]  # type: ignore[index]
                 for r in rows if r["set"] == name}
        if {"lexical", "dense", "hybrid"} <= set(score):
            best_part = max(score["lexical"], score["dense"])
            met = "met" if score["hybrid"] >= GOALS[name] else "not met"
            out[name] = (f"hybrid {score['hybrid']:.4f} vs best single {best_part:.4f} "
                         f"({'≥' if score['hybrid'] >= best_part else '<'}); goal "
                         f"{GOALS[name]:.2f} {met}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--modes", default="lexical,dense,hybrid")
    args = parser.parse_args()
    config = LoreConfig.from_env(os.environ)
    rows: list[dict[str, object]] = []
    for name in args.sets.split(","):
        rows.extend(run_set(name, args.modes.split(","), config))
    reports = [RetrievalReport(**{k: v for k, v in r.items()  # type: ignore[arg-type]
                                  if k in RetrievalReport.__dataclass_fields__}) for r in rows]
    table = markdown_table(reports)
    extra = [f"- {r['set']} {r['mode']}: all relevant documents in the top 10 for "
             f"{r['all_relevant_in_top10']:.4f} of queries" for r in rows
             if "all_relevant_in_top10" in r]
    summary = [f"- {name}: {line}" for name, line in sorted(verdicts(rows).items())]
    text = "\n".join(["# Retrieval quality", "", table, *extra, "", *summary, ""])
    Console().print(text)
    RESULTS.mkdir(exist_ok=True)
    complete = args.sets == ",".join(SETS) and args.modes == "lexical,dense,hybrid"
    suffix = "" if complete else "-partial"
    (RESULTS / f"quality{suffix}.md").write_text(text)
    (RESULTS / f"quality{suffix}.json").write_text(json.dumps(
        {"machine": machine(), "load_average": os.getloadavg(), "rows": rows,
         "verdicts": verdicts(rows)}, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
