"""Resident memory of ``lore index`` by phase, as lore runs and without two of its choices.

    python benchmarks/ingest_memory.py [--corpus PATH] [--model auto] [--variants ...] [--out NAME]

Indexes ``--corpus`` (default SciFact's ``corpus.jsonl``) into a fresh knowledge base, once per
variant, each in its own process, one after the other: ``release`` as lore runs; ``keep``
with ``lore._native.release_freed_memory`` made a no-op; ``widths`` with each model batch
padded to its longest view instead of a multiple of ``embed.transformer.PAD_MULTIPLE``.
A thread samples the process's resident memory every 50 ms and keeps the peak of each phase
(and apart, that of its children, the concept index's tagging processes, summed),
the phase told by the index run's progress events: parsing and chunking, embedding, then
building each derived index. Also the run's seconds.

Writes ``results/ingest_memory.json`` (``--out``: ``results/NAME.json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import machine
from rich.console import Console
from rich.table import Table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("release", "keep", "widths")


def rss_mb(pid: str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # a child that just ended
        pass
    return 0.0


def children_rss_mb() -> float:
    """The resident memory of this process's children, summed (the concept index's tagging
    processes; pages they share with each other are counted in each)."""
    pids = [pid for children in Path("/proc/self/task").glob("*/children")
            for pid in children.read_text().split()]
    return sum(rss_mb(pid) for pid in pids)


class PhasePeaks:
    """An index listener that names the phase, and a sampler that keeps each phase's peak."""

    def __init__(self) -> None:
        self.phase = "open"
        self.peaks: dict[str, float] = {}
        self.children: dict[str, float] = {}
        """Peaks of the children's memory, by phase, where they had any."""
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            phase = self.phase
            self.peaks[phase] = max(self.peaks.get(phase, 0.0), rss_mb())
            children = children_rss_mb()
            if children:
                self.children[phase] = max(self.children.get(phase, 0.0), children)
            time.sleep(0.05)

    def on_scanned(self, files: int) -> None: self.phase = "parse and chunk"
    def on_file(self, path: str) -> None: pass
    def on_to_embed(self, views: int) -> None: self.phase = "embed"
    def on_embedded(self, views: int) -> None: pass
    def on_indexed(self, document: Any, chunks: int) -> None: pass
    def on_skipped(self, skipped: Any) -> None: pass
    def on_concepts(self, done: int, total: int) -> None: pass


def shown(corpus: Path) -> str:
    """The corpus as the report names it: within the shared data folder, its path there."""
    resolved = corpus.resolve()
    return str(resolved.relative_to(DATA.resolve())) if resolved.is_relative_to(
        DATA.resolve()) else corpus.name


def child(corpus: str, model: str, variant: str) -> None:
    """Index ``corpus`` in this process and print the phases' peaks as JSON."""
    import lore
    import lore.api
    import lore.pipeline
    from lore.store import derived

    if variant == "keep":
        for module in (lore.api, lore.pipeline):
            module.release_freed_memory = lambda: None  # type: ignore[attr-defined]
    if variant == "widths":
        from lore.embed import transformer

        transformer.PAD_MULTIPLE = 1
    peaks = PhasePeaks()
    write = derived.DerivedIndex.write  # what lore index calls for each derived index

    def naming_write(index: derived.DerivedIndex[Any]) -> None:
        peaks.phase = f"derive {index._directory.name if index._directory else ''}"
        write(index)

    derived.DerivedIndex.write = naming_write  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        kb = lore.open(Path(folder) / "kb", model=model)
        began = time.perf_counter()
        report = kb.index([Path(corpus)], peaks, keep_derived=False)  # as lore index runs
        seconds = time.perf_counter() - began
        time.sleep(0.2)
        kb.close()
    print(json.dumps({"variant": variant, "chunks": report.chunks_added, "seconds": seconds,
                      "peaks_mb": peaks.peaks, "peak_mb": max(peaks.peaks.values()),
                      "children_mb": peaks.children}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(DATA / "scifact" / "corpus.jsonl"))
    parser.add_argument("--model", default="auto")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--out", default="ingest_memory",
                        help="results/NAME.json to write (default: ingest_memory)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.corpus, args.model, args.child)
        return 0
    runs = []
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        done = subprocess.run([sys.executable, __file__, "--corpus", args.corpus, "--model",
                               args.model, "--child", variant], capture_output=True, text=True,
                              check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report = {"machine": machine(), "corpus": shown(Path(args.corpus)), "model": args.model,
              "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2) + "\n")
    show(runs)
    return 0


def show(runs: list[dict[str, Any]]) -> None:
    table = Table(title=f"lore index, peak resident memory by phase (MiB), "
                        f"{runs[0]['chunks']:,} chunks")
    table.add_column("phase")
    for run in runs:
        table.add_column(run["variant"], justify="right")
    phases = list(dict.fromkeys(p for run in runs for p in run["peaks_mb"]))
    for phase in phases:
        table.add_row(phase, *(f"{run['peaks_mb'].get(phase, 0):,.0f}" for run in runs))
    table.add_row("whole run", *(f"{run['peak_mb']:,.0f}" for run in runs))
    table.add_row("tagging processes", *(
        f"{max(run.get('children_mb', {}).values(), default=0.0):,.0f}" for run in runs))
    table.add_row("seconds", *(f"{run['seconds']:.0f}" for run in runs))
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
