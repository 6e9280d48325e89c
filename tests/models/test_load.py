"""Cores other work leaves idle, measured from /proc/stat less this process's own time."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from lore.models.load import MIN_WINDOW, OtherLoad, llama_threads

linux = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/stat")
SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"


@pytest.mark.parametrize(("cores", "others", "threads"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 3.0, 1), (1, 0.0, 1),
    (4, 1.0, 3), (8, 0.0, 4), (16, 2.0, 8), (2, None, 2), (8, None, 4)])
def test_threads_are_the_idle_cores(cores: int, others: float | None, threads: int) -> None:
    assert llama_threads(cores, others) == threads


def others_while(work: Callable[[], object]) -> float:
    load = OtherLoad()
    work()
    others = load.cores()
    assert others is not None
    return others


def idle() -> None:
    time.sleep(1.0)


def spin() -> None:
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        pass


# Each reading is compared with one taken while this process sleeps, so work that other
# processes happen to do meanwhile counts alike in both.
@linux
def test_a_busy_process_beside_us_is_counted() -> None:
    baseline = others_while(idle)
    beside = others_while(lambda: subprocess.run(
        [sys.executable, "-c", SPIN.format(seconds=1.0)], check=True))
    assert beside > baseline + 0.5


@linux
def test_our_own_work_is_not_counted() -> None:
    baseline = others_while(idle)
    assert others_while(spin) < baseline + 0.4


@linux
def test_a_window_too_short_tells_nothing_and_keeps_growing() -> None:
    load = OtherLoad()
    assert load.cores() is None
    time.sleep(MIN_WINDOW)
    assert load.cores() is not None
