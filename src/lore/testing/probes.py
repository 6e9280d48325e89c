"""Adversarial probes: lore tried as a careless user and an attacker would try it.

Each probe builds its own inputs in a scratch folder, runs the real ``lore`` command line in
child processes (or sends real HTTP requests to a live server), and checks that the outcome
is one lore promises: the right answer, or one line that says what to fix with exit code 2;
never a traceback, a hang, a file from outside the indexed folders, or a lost document.

This module runs the suite and reports it; the probes themselves are in
:mod:`lore.testing.cli_probes` and :mod:`lore.testing.server_probes`, and what they share
(the child-process runner, the verdict) in :mod:`lore.testing.probe_harness`.

>>> results = [run_probe(probe, scratch) for probe in CLI_PROBES]
>>> [r.name for r in results if not r.passed]
[]
>>> with serving(app) as url:
...     results = [run_server_probe(probe, url, admin_key) for probe in SERVER_PROBES]
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from lore.testing.cli_probes import CLI_PROBES
from lore.testing.probe_harness import Cli, Verdict
from lore.testing.server_probes import SERVER_PROBES


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """How one probe went."""

    name: str
    area: str
    passed: bool
    detail: str
    traceback: bool = False
    """A Python traceback reached the user."""
    lost: int = 0
    """Documents reported indexed that the knowledge base does not hold."""


def run_probe(name: str, scratch: Path | None = None) -> ProbeResult:
    """Run the CLI probe ``name`` in a fresh folder under ``scratch`` (a temporary one)."""
    area, probe = CLI_PROBES[name]
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        cli = Cli(Path(folder))
        try:
            verdict = probe(cli, Path(folder))
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
            verdict = Verdict(False, f"the probe itself failed: {exc!r}")
    detail = verdict.detail.replace(folder, "<scratch>")
    return ProbeResult(name, area, verdict.passed and not cli.traceback, detail,
                       cli.traceback, verdict.lost)


def run_server_probe(name: str, url: str, key: str) -> ProbeResult:
    try:
        verdict = SERVER_PROBES[name](url, key)
    except (OSError, ValueError, KeyError, httpx.HTTPError) as exc:
        verdict = Verdict(False, f"the probe itself failed: {exc!r}")
    return ProbeResult(name, "http", verdict.passed, verdict.detail)


def table(results: Sequence[ProbeResult]) -> list[str]:
    """Markdown rows: probe, area, outcome, traceback, documents lost, detail."""
    rows = ["| probe | area | outcome | traceback | lost | detail |", "|---|---|---|---|---|---|"]
    rows += [f"| {r.name} | {r.area} | {'pass' if r.passed else 'FAIL'} | "
             f"{'yes' if r.traceback else 'no'} | {r.lost} | {r.detail.replace('|', '/')} |"
             for r in results]
    return rows
