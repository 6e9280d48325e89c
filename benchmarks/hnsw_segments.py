"""HNSW in segments: what a bounded graph costs search, and what it saves a build.

    python benchmarks/hnsw_segments.py [--n 200000] [--segments 25000,50000,100000,0]

The vectors are ``ann_choice.py``'s synthetic mixture (unit vectors of dimension 384 from 300
anisotropic Gaussian clusters; see its docstring), ``--n`` of them plus 500 held-out queries.
For each segment size (0: one graph, as before segments), in a fresh process:

- **build**: ``HnswWriter`` writes the index into a temporary folder, fed 5,000 vectors at a
  time as ``lore index`` feeds it from the store (read from a file, not mapped, so the page
  cache does not count as the build's memory); wall time on both cores, and the peak resident
  memory the build added to the process (``VmHWM`` after, less the resident size before);
- **search**: the written index loaded as ``lore search`` loads it, then one query at a time
  on one thread at ``ef`` 64 and 128 (lore's default): recall@10 against exact search,
  median and p99 latency;
- **a later run**: the written index carried over as the next ``lore index`` carries it, with
  1,000 random chunks changed and 1,000 new ones: wall time.

Writes ``results/hnsw_segments.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ann_choice import exact_top, make_mixture
from common import machine
from rich.console import Console
from rich.table import Table

from lore.store.hnsw import HnswIndex
from lore.store.hnsw_writer import HnswWriter

RESULTS = Path(__file__).parent / "results"
DIM = 384
QUERIES = 500
BLOCK = 5_000
EF = (64, 128)
CHANGED = 1_000


def resident_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_block(path: Path, start: int, count: int) -> np.ndarray:
    """Rows ``start`` to ``start + count`` of a raw float32 file, read (not mapped)."""
    with path.open("rb") as handle:
        handle.seek(start * DIM * 4)
        return np.frombuffer(handle.read(count * DIM * 4), np.float32).reshape(-1, DIM)


def worker(folder: Path, n: int, segment: int) -> dict[str, Any]:
    before = resident_mb("VmRSS")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        writer = HnswWriter(Path(tmp), HnswIndex(DIM, segment_size=segment or n))
        for start in range(0, n, BLOCK):
            rows = read_block(folder / "vectors.f32", start, min(BLOCK, n - start))
            writer.add(np.arange(start, start + len(rows), dtype=np.int64), rows)
        writer.finish()
        build_s = time.perf_counter() - began
        build_mb = resident_mb("VmHWM") - before
        index = HnswIndex.load(Path(tmp))
        queries, truth = np.load(folder / "queries.npy"), np.load(folder / "truth.npy")
        sweep = [search_point(index, queries, truth, ef) for ef in EF]
        carry_s = carry(folder, Path(tmp), n, segment)
        return {"segment": segment, "segments": len(index.segments), "n": n,
                "build_s": build_s, "build_added_mb": build_mb, "sweep": sweep,
                "carry_s": carry_s, "loadavg": os.getloadavg()}


def carry(folder: Path, written: Path, n: int, segment: int) -> float:
    """Seconds to write the index again as a later ``lore index`` does: ``CHANGED`` random
    chunks changed (dropped, then added back) and ``CHANGED`` new ones."""
    changed = np.sort(np.random.default_rng(1).choice(n, CHANGED, replace=False))
    rows = read_block(folder / "vectors.f32", 0, CHANGED)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        writer = HnswWriter(Path(tmp), HnswIndex(DIM, segment_size=segment or n))
        writer.carry(written, changed)
        writer.add(np.concatenate([changed, np.arange(n, n + CHANGED)]),
                   np.concatenate([rows, rows]))
        writer.finish()
        return time.perf_counter() - began


def search_point(index: HnswIndex, queries: np.ndarray, truth: np.ndarray,
                 ef: int) -> dict[str, float]:
    times, hits = [], []
    for query, true in zip(queries, truth, strict=True):
        began = time.perf_counter()
        found, _ = index.search(query, k=10, ef_search=ef)
        times.append(time.perf_counter() - began)
        hits.append(len(np.intersect1d(found, true)) / 10)
    times.sort()
    return {"ef": ef, "recall_at_10": float(np.mean(hits)),
            "p50_ms": 1000 * statistics.median(times),
            "p99_ms": 1000 * times[int(0.99 * (len(times) - 1))]}


def prepare(folder: Path, n: int) -> None:
    vectors = make_mixture(n + QUERIES, DIM, seed=0)
    base, queries = vectors[:n], vectors[n:]
    base.tofile(folder / "vectors.f32")
    np.save(folder / "queries.npy", queries)
    np.save(folder / "truth.npy", exact_top(base, queries, {"all": None})["all"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--segments", default="25000,50000,100000,0",
                        help="segment sizes, comma separated; 0 is one graph")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder, n, segment = Path(args.worker[0]), int(args.worker[1]), int(args.worker[2])
        print(json.dumps(worker(folder, n, segment)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(tmp), args.n)
        for segment in (int(size) for size in args.segments.split(",")):
            done = subprocess.run([sys.executable, __file__, "--worker", tmp, str(args.n),
                                   str(segment)], check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.splitlines()[-1]))
            show(rows)
    record({"n": args.n, "dim": DIM, "queries": QUERIES, "machine": machine(), "runs": rows})
    return 0


def show(rows: list[dict[str, Any]]) -> None:
    table = Table(title="HNSW by segment size")
    for column in ("segment", "graphs", "build s", "build MiB", "later run s", *(
            f"{name} ef={ef}" for ef in EF for name in ("recall", "p50 ms", "p99 ms"))):
        table.add_column(column, justify="right")
    for row in rows:
        cells = [f"{row['segment']:,}" if row["segment"] else "one graph",
                 str(row["segments"]), f"{row['build_s']:.1f}", f"{row['build_added_mb']:.0f}",
                 f"{row['carry_s']:.1f}"]
        for point in row["sweep"]:
            cells += [f"{point['recall_at_10']:.3f}", f"{point['p50_ms']:.2f}",
                      f"{point['p99_ms']:.2f}"]
        table.add_row(*cells)
    Console(width=160).print(table)


def record(report: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hnsw_segments.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
