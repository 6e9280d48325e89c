"""Resident memory of building the concept graph, step by step, from a saved concept index.

    python benchmarks/ingest_scale.py --scales 100k --stores sqlite --keep /tmp/kb-100k
    python benchmarks/graph_memory.py /tmp/kb-100k [--out NAME]

Reads the concept index that ``lore index`` wrote into a knowledge base (its ``concepts``
folder: chunk rowids, concept counts and ids as ``.npy`` columns, names as JSON) and builds the
concept graph from it twice, each time in a fresh process, one after the other:

- ``bounded``: as ``lore index`` builds it, the pairs counted a range of concepts at a time
  and at most ``GraphSettings.max_links`` links kept;
- ``whole``: every pair counted in one pass and every link kept, as before the cap.

A thread samples resident memory every 50 ms and keeps the peak of each step: the columns
opened, the concepts kept, the links counted and weighted, and the communities (Leiden, then
each chunk placed). The table also gives the share of chunks placed in a community. Writes
``results/graph_memory.json`` (``--out``: ``results/NAME.json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import machine
from ingest_memory import PhasePeaks
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("bounded", "whole")
STEPS = ("columns", "kept concepts", "links", "communities")


def enter(peaks: PhasePeaks, step: str) -> None:
    time.sleep(0.1)  # the step before keeps the last samples of its own
    peaks.phase = step


def concept_folder(kb: Path) -> Path:
    """The folder holding the concept index's columns, within ``kb``."""
    found = sorted(path.parent for path in kb.rglob("concepts.json")
                   if (path.parent / "ids.npy").is_file())
    if not found:
        raise SystemExit(f"{kb}: no concept index saved as columns (keys.npy, sizes.npy, "
                         "ids.npy, concepts.json) below it; index a folder with lore first")
    return found[-1]


def child(folder: Path, variant: str) -> dict[str, Any]:
    """Build the graph of the concept index in ``folder`` in this process, step by step."""
    import numpy as np

    from lore.graph import build
    from lore.store.concepts import Names, saved_incidence

    peaks = PhasePeaks()  # its phases are this build's steps
    settings = build.GraphSettings()
    if variant == "whole":
        build.RANGE_PAIRS = 2**62
        settings = build.GraphSettings(max_links=2**62)
    enter(peaks, "columns")
    names = Names.load(folder).names
    keys, incidence = saved_incidence(folder, len(names))
    links, detect = build._links, build.detect

    def links_step(*args: Any, **kwargs: Any) -> Any:
        enter(peaks, "links")
        return links(*args, **kwargs)

    def detect_step(*args: Any, **kwargs: Any) -> Any:
        enter(peaks, "communities")
        return detect(*args, **kwargs)

    build._links, build.detect = links_step, detect_step  # type: ignore[assignment]
    enter(peaks, "kept concepts")
    began = time.perf_counter()
    graph = build.build_graph(np.asarray(keys), incidence, names, settings)
    seconds = time.perf_counter() - began
    enter(peaks, "done")
    return {"chunks": len(keys), "concepts": len(names), "nodes": len(graph.concepts),
            "links": graph.edges,
            "communities": len(graph.communities),
            "chunks_placed": int((graph.communities.chunk_leaf >= 0).sum()), "seconds": seconds,
            "peaks_mb": {step: peaks.peaks[step] for step in STEPS},
            "start_mb": peaks.peaks.get("open", 0.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kb", type=Path, help="a knowledge base with a concept index")
    parser.add_argument("--out", default="graph_memory")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = concept_folder(args.kb)
    if args.child:
        print(json.dumps(child(folder, args.child)))
        return 0
    runs = {}
    for variant in VARIANTS:
        done = subprocess.run([sys.executable, __file__, str(args.kb), "--child", variant],
                              capture_output=True, text=True, check=True)
        runs[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    show(runs)
    RESULTS.mkdir(exist_ok=True)
    report = {"machine": machine(), "kb": args.kb.name, "runs": runs}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def show(runs: dict[str, dict[str, Any]]) -> None:
    table = Table(title="building the concept graph: peak resident MiB by step")
    for column in ("graph", "chunks", "placed", "concepts", "links", *STEPS, "seconds"):
        table.add_column(column, justify="right")
    for variant, run in runs.items():
        placed = run["chunks_placed"] / max(run["chunks"], 1)
        table.add_row(variant, f"{run['chunks']:,}", f"{placed:.3f}", f"{run['nodes']:,}",
                      f"{run['links']:,}",
                      *(f"{run['peaks_mb'][step]:.0f}" for step in STEPS),
                      f"{run['seconds']:.1f}")
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
