"""How many cores other work leaves us: ``OtherLoad``, and ``llama_threads`` from it.

llama.cpp's OpenMP threads meet at a barrier after every layer, spinning while they wait. On a
quiet machine every core helps; when another process holds a core, the thread that shares it
stalls all the others, and two threads decode at half the speed of one
(``benchmarks/llama_speed.py``). So the thread count is chosen before each prompt from the
CPU time the rest of the machine used since the previous one: ``/proc/stat``'s busy time minus
this process's own.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MIN_WINDOW = 0.5
"""Seconds: a shorter window since the last reading says too little to act on."""


@dataclass(frozen=True, slots=True)
class _Reading:
    busy: float
    """CPU seconds the whole machine has spent busy (``/proc/stat``)."""
    own: float
    """CPU seconds this process has used."""
    wall: float


class OtherLoad:
    """Cores kept busy by other processes since the last reading (Linux; elsewhere ``None``).

    Example::

        load = OtherLoad()
        ...                      # a prompt evaluated, a search run elsewhere
        load.cores()             # e.g. 0.9: another process held most of a core
    """

    def __init__(self) -> None:
        self._last = _read()

    def cores(self) -> float | None:
        """Average cores others used since the last answer (or creation); ``None`` when that
        was under ``MIN_WINDOW`` ago (the window then grows until the next call)."""
        now, last = _read(), self._last
        if now is None or last is None or now.wall - last.wall < MIN_WINDOW:
            return None
        self._last = now
        return max(0.0, (now.busy - last.busy) - (now.own - last.own)) / (now.wall - last.wall)


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


def llama_threads(cores: int, others: float | None) -> int:
    """Threads for llama.cpp: the cores others leave idle (rounded), at least one; beyond
    four cores at most half of them (llama.cpp's own default: one per physical core)."""
    usable = cores if cores <= 4 else cores // 2
    if others is None:
        return usable
    return max(1, min(usable, round(cores - others)))


def _read() -> _Reading | None:
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    times = os.times()
    return _Reading((sum(ticks) - idle) / _TICKS, times.user + times.system, time.monotonic())


def load_average() -> float | None:
    """The 1-minute load average (this process included), where the system keeps one."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None
