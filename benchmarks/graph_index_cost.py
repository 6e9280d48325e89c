"""What the concept graph adds to ``lore index``: a fresh knowledge base is built from a
shared corpus, timed whole, and the concept work (reading each chunk's concepts, then the
graph and its communities) is timed again alone over the same store: the concepts tagged in
this process, then in one process per core, as ``lore index`` tags them.

    python benchmarks/graph_index_cost.py --set scifact
    python benchmarks/graph_index_cost.py --set hotpotqa

The knowledge base goes to a temporary folder, built with the default embedder; prints a
table and merges a row per set into ``results/graph_index_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

import lore
from lore.config import LoreConfig
from lore.graph.build import build_graph
from lore.models.load import usable_cores
from lore.store.concepts import ConceptIndex
from lore.store.derived import ConceptFeed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"hotpotqa": "hotpotqa-dev-distractor-500", "scifact": "scifact"}
RESULTS = Path(__file__).resolve().parent / "results"


def run(name: str) -> dict[str, object]:
    config = LoreConfig.from_env(os.environ)
    with tempfile.TemporaryDirectory() as folder, lore.open(Path(folder) / "kb",
                                                            config=config) as kb:
        started = time.perf_counter()
        kb.index([DATA / SETS[name] / "corpus.jsonl"])
        total = time.perf_counter() - started
        store = kb._store
        seconds = {}
        for workers in dict.fromkeys((1, usable_cores())):
            index = ConceptIndex()
            started = time.perf_counter()
            ConceptFeed(store, workers=workers).fill(index, None)
            seconds[workers] = time.perf_counter() - started
        reading = seconds[usable_cores()]  # as lore index reads them
        keys, incidence = index.matrix()
        graph = build_graph(keys, incidence, index.names)
        return {"set": name, "chunks": store.chunk_count(), "index_seconds": total,
                "concept_seconds": reading, "concept_seconds_by_processes": seconds,
                "graph_seconds": graph.seconds, "share": (reading + graph.seconds) / total,
                **graph.facts()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="scifact", choices=sorted(SETS))
    args = parser.parse_args()
    row = run(args.set)
    by_processes = row["concept_seconds_by_processes"]
    assert isinstance(by_processes, dict)
    table = Table("set", "chunks", "lore index s", "concepts s, by tagging processes",
                  "graph s", "share of index", title="The concept graph's share of lore index")
    table.add_row(args.set, f"{row['chunks']:,}", f"{row['index_seconds']:.1f}",
                  ", ".join(f"{s:.1f} ({n})" for n, s in by_processes.items()),
                  f"{row['graph_seconds']:.2f}", f"{row['share']:.1%}")
    Console().print(table)
    path = RESULTS / "graph_index_cost.json"
    kept = json.loads(path.read_text())["sets"] if path.exists() else {}
    kept[args.set] = row
    path.write_text(json.dumps({"machine": machine(), "sets": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
