"""What every probe stands on: the ``lore`` command line run in a child process, the verdict a
probe returns, and small helpers to write its inputs and judge lore's replies.

Probes (:mod:`lore.testing.cli_probes`, :mod:`lore.testing.server_probes`) build their own
inputs and judge the outcome; keeping the runner and the judging helpers here means each probe
reads as the inputs it builds and the promise it checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lore.testing.permissions import as_ordinary_user

LORE = [sys.executable, "-m", "lore.cli"]
MARKER = "zebraquartz"
"""A word only probe inputs hold, so a search for it finds exactly what was indexed."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one probe concluded: whether lore kept its promise, and what it saw."""

    passed: bool
    detail: str
    lost: int = 0


class Cli:
    """Runs ``lore`` in a child process and remembers whether any output held a traceback."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.traceback = False

    def __call__(self, *args: str, ordinary_user: bool = False,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*LORE, *args], capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                              preexec_fn=as_ordinary_user if ordinary_user else None)
        self.traceback |= "Traceback" in done.stdout + done.stderr
        return done

    def index(self, folder: Path, kb: Path, model: str = "hash") -> dict[str, Any]:
        done = self("index", str(folder), "--kb", str(kb), "--model", model, "--json")
        return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr}

    def hits(self, query: str, kb: Path, *extra: str) -> list[dict[str, Any]]:
        done = self("search", query, "--kb", str(kb), "--json", *extra)
        if done.returncode != 0:
            return []
        found: list[dict[str, Any]] = json.loads(done.stdout)["hits"]
        return found

    def documents(self, kb: Path) -> int:
        done = self("status", "--kb", str(kb), "--json")
        return int(json.loads(done.stdout)["documents"]) if done.returncode == 0 else 0


def write(folder: Path, files: Mapping[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> Verdict:
    """Exit code 2 and one line on stderr holding ``words``."""
    lines = [line for line in done.stderr.splitlines() if line.strip()
             and not line.startswith(("Building prefix", "Loading model", "Prefix dict"))]
    ok = done.returncode == 2 and len(lines) == 1 and all(w in lines[0] for w in words)
    return Verdict(ok, lines[-1] if lines else f"exit {done.returncode}, nothing on stderr")


def lost(report: dict[str, Any], held: int) -> int:
    return max(0, int(report.get("documents_added", 0)) - held)
