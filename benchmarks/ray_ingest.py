"""Indexing SciFact on Ray: one embedding actor against two, each with one thread, side by side.

    python benchmarks/ray_ingest.py                   # the whole corpus (5,183 documents)
    python benchmarks/ray_ingest.py --docs 1000       # a quick run

Each variant indexes the corpus (``corpus.jsonl``, its first ``--docs`` records) into a new
knowledge base (MiniLM, the SQLite store) with ``KnowledgeBase.index(..., ray=...)`` on a
new local Ray cluster of this machine's CPUs: ``ray-1`` with one embedding actor, ``ray-2``
with two; ``here`` is the same run in this process (the model's default threads), for
reference. Each variant runs in a process of its own, one after another.

Reported per variant: the whole run's seconds (the cluster's start and the actors' model
loading included), the seconds from the first stored vector to the last (the steady rate),
and chunks per second over each. Goal: ``ray-2`` at least 1.7 times as fast as ``ray-1``
over the whole run.

Also, first, the reading rate: the corpus parsed and chunked in this process, 64 records at a
time, as one reading actor does (the input to the projection in docs/indexing.md).
``--variants ""`` measures that alone.

Writes ``results/ray_ingest.json``; variants not run keep the numbers of their last run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"
VARIANTS = {"ray-1": 1, "ray-2": 2, "here": 0}
"""Embedding actors; 0: no Ray."""
console = Console()

CHILD = """
import json, sys, time
import lore
from lore.pipeline import SilentListener

class Clock(SilentListener):
    first = last = None
    def on_embedded(self, views):
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now

corpus, kb_dir, actors = sys.argv[1], sys.argv[2], int(sys.argv[3])
ray = None
if actors:
    from lore.ray_ingest import RaySettings
    ray = RaySettings(address="local", actors=actors, threads=1)
clock = Clock()
with lore.open(kb_dir, model="minilm") as kb:
    started = time.perf_counter()
    report = kb.index([corpus], clock, ray=ray)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "steady_seconds": clock.last - clock.first,
                  "chunks": report.chunks_added, "documents": report.documents_added}))
"""


def subset(docs: int | None, folder: Path) -> Path:
    if docs is None:
        return DATA
    path = folder / "corpus.jsonl"
    with open(DATA) as source, open(path, "w") as target:
        target.writelines(itertools.islice(source, docs))
    return path


def run_variant(name: str, corpus: Path, folder: Path) -> dict[str, float]:
    output = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(folder / name),
                             str(VARIANTS[name])], capture_output=True, text=True, check=True)
    result = {k: float(v) for k, v in json.loads(output.stdout.strip().splitlines()[-1]).items()}
    result["chunks_per_s"] = result["chunks"] / result["seconds"]
    result["steady_chunks_per_s"] = result["chunks"] / result["steady_seconds"]
    return result


def reading_rate(corpus: Path) -> dict[str, float]:
    """Parse and chunk ``corpus`` as a reading actor does; seconds and chunks per second."""
    from lore.config import EmbedConfig, IngestConfig
    from lore.embed.registry import create_embedder
    from lore.ingest.parse import parse_file
    from lore.pipeline import chunk_file
    from lore.ray_ingest import RaySettings

    embedder, config, batch = create_embedder(EmbedConfig(model="minilm")), IngestConfig(), \
        RaySettings().batch
    embedder.count_tokens(["warm"])  # the tokenizer loads once per actor, not per file
    started = time.perf_counter()
    documents = parse_file(corpus.resolve(), config.max_file_bytes).documents
    chunks = sum(len(c) for start in range(0, len(documents), batch)
                 for c in chunk_file(documents[start:start + batch], embedder, config))
    seconds = time.perf_counter() - started
    return {"documents": len(documents), "chunks": chunks, "seconds": seconds,
            "chunks_per_s": chunks / seconds}


def table(results: dict[str, dict[str, float]]) -> Table:
    shown = Table("variant", "documents", "chunks", "seconds", "chunks/s", "steady s",
                  "steady chunks/s")
    for name, r in results.items():
        shown.add_row(name, f"{r['documents']:.0f}", f"{r['chunks']:.0f}", f"{r['seconds']:.1f}",
                      f"{r['chunks_per_s']:.1f}", f"{r['steady_seconds']:.1f}",
                      f"{r['steady_chunks_per_s']:.1f}")
    return shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, help="only the first N documents")
    parser.add_argument("--variants", default="ray-1,ray-2,here")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lore-ray-bench-") as folder:
        corpus = subset(args.docs, Path(folder))
        reading = reading_rate(corpus)
        console.print(f"reading: {reading['chunks']:.0f} chunks in {reading['seconds']:.1f} s, "
                      f"{reading['chunks_per_s']:.0f} chunks/s")
        for name in filter(None, args.variants.split(",")):
            results[name] = run_variant(name, corpus, Path(folder))
            console.print(f"{name}: {results[name]['seconds']:.1f} s")
    console.print(table(results))
    speedup = None
    if "ray-1" in results and "ray-2" in results:
        speedup = results["ray-1"]["seconds"] / results["ray-2"]["seconds"]
        console.print(f"ray-2 over ray-1: {speedup:.2f}x (goal 1.7x)")
    write(results, reading, speedup)
    return 0 if speedup is None or speedup >= 1.7 else 1


def write(results: dict[str, dict[str, float]], reading: dict[str, float],
          speedup: float | None) -> None:
    """Merge this run into the results file: each variant keeps the command that ran it."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "ray_ingest.json"
    report = json.loads(path.read_text()) if path.exists() else {"results": {}}
    command = " ".join(["python benchmarks/ray_ingest.py", *sys.argv[1:]])
    for name, result in results.items():
        report["results"][name] = {**result, "command": command}
    report["reading"] = {**reading, "command": command}
    if speedup is not None:
        report["speedup_2_over_1"] = speedup
    report["cpu"] = machine()["cpu"]
    path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
