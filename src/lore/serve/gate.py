"""One answer at a time on the local model, a bounded line behind it, and a clear "busy".

A CPU runs one generation well and two badly, so answers take turns. At most ``waiting``
questions queue behind the one being answered; the next is refused at once with an estimate
of when to come back, instead of waiting without bound.

>>> gate = AnswerGate(waiting=4)
>>> ticket = gate.enter()          # raises Busy when the line is full
>>> with ticket:                   # blocks until it is this question's turn
...     answer = kb.ask(question)
"""

from __future__ import annotations

import math
import threading
import time
from types import TracebackType


class Busy(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the model is answering other questions; retry in {retry_after} s")
        self.retry_after = retry_after


class AnswerGate:
    def __init__(self, waiting: int, typical_seconds: float = 10.0) -> None:
        self.waiting = waiting
        self._turn = threading.Lock()
        self._count = threading.Lock()
        self._admitted = 0
        """Answering plus waiting."""
        self._typical = typical_seconds
        """Running mean of answer durations: the basis of Retry-After."""
        self.refused = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    def enter(self) -> Ticket:
        with self._count:
            if self._admitted > self.waiting:
                self.refused += 1
                raise Busy(max(1, math.ceil(round(self._typical * self._admitted, 1))))
            self._admitted += 1
        return Ticket(self)

    def _finished(self, seconds: float | None) -> None:
        with self._count:
            self._admitted -= 1
            if seconds is not None:
                self._typical = 0.8 * self._typical + 0.2 * seconds


class Ticket:
    """A place in line; entering it waits for the turn, leaving frees the line."""

    def __init__(self, gate: AnswerGate) -> None:
        self._gate = gate
        self._started: float | None = None
        self._open = True

    def __enter__(self) -> Ticket:
        self._gate._turn.acquire()
        self._started = time.monotonic()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._gate._turn.release()
        assert self._started is not None
        self._leave(time.monotonic() - self._started)

    def cancel(self) -> None:
        """Give up a place never used (the client left before its turn)."""
        self._leave(None)

    def _leave(self, seconds: float | None) -> None:
        if self._open:
            self._open = False
            self._gate._finished(seconds)
