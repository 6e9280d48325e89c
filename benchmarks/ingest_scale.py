"""Resident memory of ``lore index`` from 10k to 1M chunks, by phase, on SQLite and PostgreSQL.

    python benchmarks/ingest_scale.py [--scales 10k,100k,1m] [--stores sqlite,postgres]
        [--model hash] [--file-mib 32] [--pending N] [--server URL] [--out NAME] [--keep DIR]

``--stores`` takes ``sqlite``, ``sqlite-ivfpq`` (IVF-PQ codes in place of the HNSW graph that
``auto`` builds past 40,000 vectors) and ``postgres``. ``LORE_CONCEPTS=first-use`` leaves the
concept index out (recorded in the report), as tagging every chunk takes most of the time.

Data. Real records of the SciFact, SQuAD v1.1 dev and HotpotQA dev (500) corpora, repeated
until the corpus holds about the asked number of chunks: each repeat of a record gets a new id
and its text opens with the repeat's number, so every chunk's view is new and gets its own
vector. They are written as JSONL files of ``--file-mib`` MiB (the last one shorter), the
shape of a data dump. The vocabulary is the real corpora's plus the repeat numbers, so it
grows less than a real million-chunk corpus's would.

``--model hash`` (lore's 64-dimensional hashing embedder) makes embedding nearly free, so a
million chunks index in minutes; the model's own memory is ``benchmarks/ingest_memory.py``'s
subject. Each (store, size) runs ``KnowledgeBase.index`` as ``lore index`` does, in a fresh
process and a fresh knowledge base (a fresh schema of the PostgreSQL server, default: one
started from the ``pgserver`` wheel), one after the other. A thread samples resident memory
every 50 ms and keeps the peak of each phase: ``ingest`` (reading, parsing, chunking,
embedding and writing, interleaved file by file) and building each derived index; and apart,
that of the processes that tag the concept index (their resident memory summed;
``children_mb``). Then the same ``lore index`` runs again over the unchanged corpus: its
seconds (``again_seconds``) are what a rerun with nothing to do costs.

Writes ``results/ingest_scale.json`` (``--out``: ``results/NAME.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import machine
from ingest_memory import PhasePeaks
from rich.console import Console
from rich.table import Table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SOURCES = ("scifact", "squad-v1.1-dev", "hotpotqa-dev-distractor-500")
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
STORES: dict[str, dict[str, str]] = {"sqlite": {}, "sqlite-ivfpq": {"LORE_ANN": "ivfpq"},
                                     "postgres": {}}
"""Each store variant's settings: ``sqlite-ivfpq`` keeps IVF-PQ codes in place of the HNSW
graph that ``auto`` builds past 40,000 vectors."""
BYTES_PER_CHUNK = 960
"""Corpus bytes per chunk that ``--model hash`` cuts from these records (measured at 100k):
sizes the corpus; the table gives the chunks each size holds."""


def records() -> list[dict[str, str]]:
    """The real records, in a fixed order."""
    found = []
    for name in SOURCES:
        with open(DATA / name / "corpus.jsonl") as handle:
            for line in handle:
                record = json.loads(line)
                found.append({"_id": f"{name}/{record['_id']}", "title": record.get("title", ""),
                              "text": record["text"]})
    return found


def repeated(chunks: int) -> Iterator[str]:
    """JSONL lines of about ``chunks`` chunks: the real records, repeated."""
    real = records()
    budget = chunks * BYTES_PER_CHUNK
    written = 0
    for copy in range(1_000_000):
        for record in real:
            line = json.dumps({"_id": f"{record['_id']}/{copy}", "title": record["title"],
                               "text": f"Repeat {copy}. {record['text']}"}, ensure_ascii=False)
            yield line
            written += len(line.encode()) + 1
            if written >= budget:
                return


def write_corpus(folder: Path, chunks: int, file_bytes: int) -> int:
    """Write the corpus as JSONL files of about ``file_bytes`` each; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    files = 0
    lines: list[str] = []
    size = 0
    for line in repeated(chunks):
        lines.append(line)
        size += len(line.encode()) + 1
        if size >= file_bytes:
            files = _write_part(folder, files, lines)
            lines, size = [], 0
    return _write_part(folder, files, lines) if lines else files


def _write_part(folder: Path, number: int, lines: list[str]) -> int:
    with open(folder / f"part-{number:04d}.jsonl", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return number + 1


class IngestPeaks(PhasePeaks):
    """Reading, parsing, chunking, embedding and writing interleave file by file: one phase."""

    def on_scanned(self, files: int) -> None: self.phase = "ingest"
    def on_to_embed(self, views: int) -> None: pass


def child(corpus: str, model: str, store: str | None, pending: int | None,
          keep: Path | None) -> None:
    """Index ``corpus`` in this process, as ``lore index`` does, and print the peaks as JSON;
    the knowledge base is made in ``keep`` when given, and left there."""
    import lore
    from lore import pipeline
    from lore.store import derived

    if pending is not None:
        pipeline.PENDING_LIMIT = pending

    peaks = IngestPeaks()
    write = derived.DerivedIndex.write  # what an index run calls for each derived index

    def naming_write(index: derived.DerivedIndex[Any]) -> None:
        peaks.phase = f"derive {index._directory.name if index._directory else ''}"
        write(index)

    derived.DerivedIndex.write = naming_write  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        kb = lore.open(Path(keep or folder) / "kb", model=model, store=store)
        began = time.perf_counter()
        report = kb.index([Path(corpus)], peaks, keep_derived=False)
        seconds = time.perf_counter() - began
        time.sleep(0.2)
        peaks.phase = "again"
        began = time.perf_counter()
        kb.index([Path(corpus)], keep_derived=False)  # nothing changed: what a rerun costs
        again = time.perf_counter() - began
        time.sleep(0.2)
        kb.close()
    peaks.peaks.pop("again", None)  # the process already holds what the first run left
    print(json.dumps({"chunks": report.chunks_added, "seconds": seconds,
                      "peaks_mb": peaks.peaks, "peak_mb": max(peaks.peaks.values()),
                      "children_mb": peaks.children, "again_seconds": again}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="10k,100k,1m")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--model", default="hash")
    parser.add_argument("--file-mib", type=float, default=32)
    parser.add_argument("--server", help="a PostgreSQL database URL (default: start pgserver)")
    parser.add_argument("--pending", type=int, help="views parsed ahead of the model at most "
                        "(default: lore's pipeline.PENDING_LIMIT)")
    parser.add_argument("--out", default="ingest_scale",
                        help="the results file's name under results/, without .json")
    parser.add_argument("--keep", type=Path, help="keep each knowledge base made, in "
                        "KEEP/SCALE-STORE (for benchmarks/graph_memory.py)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.store, args.pending, args.keep)
        return 0
    stores = args.stores.split(",")
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown stores {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(STORES)}")
    url = None
    if "postgres" in stores:
        from lore.testing import postgres
        url = args.server or postgres.server_url()
    runs = []
    for scale in args.scales.split(","):
        with tempfile.TemporaryDirectory() as folder:
            files = write_corpus(Path(folder), SCALES[scale], int(args.file_mib * 2**20))
            for name in stores:
                runs.append({"scale": scale, "store": name, "files": files,
                             **run_child(folder, args.model, name, url, scale, args.pending,
                                         args.keep and args.keep / f"{scale}-{name}")})
                show(runs)
    report = {"machine": machine(), "model": args.model, "file_mib": args.file_mib,
              "pending": args.pending, "concepts": os.environ.get("LORE_CONCEPTS", "index"),
              "sources": list(SOURCES), "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def run_child(corpus: str, model: str, store: str, url: str | None, scale: str,
              pending: int | None, keep: Path | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", corpus, "--model", model]
    if pending is not None:
        command += ["--pending", str(pending)]
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        command += ["--keep", str(keep)]
    environment = dict(os.environ, **STORES[store])
    if store == "postgres":
        from lore.store.postgres import with_schema
        assert url is not None
        command += ["--store", with_schema(url, f"ingest_{scale}_{int(time.time())}")]
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"{store} at {scale} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def show(runs: list[dict[str, Any]]) -> None:
    table = Table(title="lore index, peak resident memory by phase (MiB)")
    table.add_column("store")
    table.add_column("chunks", justify="right")
    phases = list(dict.fromkeys(p for run in runs for p in run["peaks_mb"]))
    for phase in phases:
        table.add_column(phase, justify="right")
    table.add_column("whole run", justify="right")
    table.add_column("tagging processes", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("again, s", justify="right")
    for run in runs:
        children = max(run.get("children_mb", {}).values(), default=0.0)
        table.add_row(run["store"], f"{run['chunks']:,}",
                      *(f"{run['peaks_mb'].get(p, 0):,.0f}" for p in phases),
                      f"{run['peak_mb']:,.0f}", f"{children:,.0f}", f"{run['seconds']:.0f}",
                      f"{run.get('again_seconds', float('nan')):.1f}")
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
