"""Run a piece of work in a child process, so that a crash is a result and not our death.

Native code (llama.cpp, oneDNN) that executes an instruction the CPU cannot run dies with a
signal and no Python traceback. ``run_json`` runs it in a child that prints one JSON object,
and reports a signal, an exit status, a time-out or the object.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lore.models.cpu import signal_name


@dataclass(frozen=True, slots=True)
class ChildResult:
    """How a child process ended."""

    value: dict[str, Any] | None
    """The JSON object it printed last on stdout; ``None`` when it failed."""
    signal: str | None = None
    """The signal that killed it, e.g. ``SIGILL``."""
    error: str = ""
    """Why it failed: the signal, its exit status and last line of stderr, or a time-out."""
    stderr: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.value is not None


def run_json(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
             ) -> ChildResult:
    """Run ``argv``; its result is the last line of stdout, parsed as a JSON object."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              env=None if env is None else dict(env), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ChildResult(None, error=f"did not finish in {timeout:g} s")
    if done.returncode < 0:
        name = signal_name(-done.returncode)
        return ChildResult(None, name, f"killed by {name}", done.stderr)
    if done.returncode != 0:
        return ChildResult(None, None, f"exit status {done.returncode}: "
                           f"{last_line(done.stderr)}", done.stderr)
    lines = done.stdout.strip().splitlines()
    try:
        value = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        return ChildResult(None, None, f"printed no JSON object: {last_line(done.stdout)}",
                           done.stderr)
    return ChildResult(value, stderr=done.stderr)


def last_line(text: str) -> str:
    """The last non-blank line of ``text``, or ``no message``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"

