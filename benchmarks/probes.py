"""The probe suite's table: every probe of ``lore.testing.probes``, its outcome, tracebacks and
documents lost.

    python benchmarks/probes.py                  # command-line probes and a live server's

Command-line probes run the real ``lore`` in child processes over inputs each builds in a
scratch folder; server probes send real HTTP to a ``lore serve`` app started here on a
loopback port. Prints a markdown table and writes ``results/probes.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from common import machine

from lore.testing.cli_probes import CLI_PROBES
from lore.testing.probes import ProbeResult, run_probe, run_server_probe, table
from lore.testing.server import make_app, serving
from lore.testing.server_probes import SERVER_PROBES, prepare_server

RESULTS = Path(__file__).resolve().parent / "results"


def server_results(folder: Path) -> list[ProbeResult]:
    app = make_app(folder / "server")
    key = app.state.server.keys.create("*", "admin")
    with serving(app) as url:
        prepare_server(url, key)
        return [run_server_probe(name, url, key) for name in SERVER_PROBES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "probes")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        results = [run_probe(name, Path(folder)) for name in CLI_PROBES]
        results += server_results(Path(folder))
    failed = [r for r in results if not r.passed]
    summary = (f"{len(results)} probes, {len(failed)} failed, "
               f"{sum(r.traceback for r in results)} with a traceback, "
               f"{sum(r.lost for r in results)} documents lost; "
               f"{time.perf_counter() - started:.0f} s")
    text = "\n".join(["# Probes", "", *table(results), "", summary, ""])
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"machine": machine(), "results": [asdict(r) for r in results], "summary": summary},
        indent=2, ensure_ascii=False) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
