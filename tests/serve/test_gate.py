"""The answer gate: one at a time, a bounded line, a clear refusal past it."""

from __future__ import annotations

import threading
import time

import pytest

from lore.serve.gate import AnswerGate, Busy


def test_answers_take_turns() -> None:
    gate = AnswerGate(waiting=4)
    inside, most = 0, 0
    lock = threading.Lock()

    def answer() -> None:
        nonlocal inside, most
        with gate.enter():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=answer) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert gate.admitted == 0


def test_a_full_line_refuses_with_a_retry_time() -> None:
    gate = AnswerGate(waiting=1, typical_seconds=3.0)
    first, second = gate.enter(), gate.enter()
    with pytest.raises(Busy) as refused:
        gate.enter()
    assert refused.value.retry_after == 6  # two ahead, three seconds each
    assert "retry in 6 s" in str(refused.value)
    first.cancel()
    third = gate.enter()  # a place came free
    second.cancel()
    third.cancel()
    assert gate.admitted == 0 and gate.refused == 1


def test_the_retry_estimate_follows_answer_times() -> None:
    gate = AnswerGate(waiting=0, typical_seconds=10.0)
    with gate.enter():
        pass  # an answer that took no time pulls the estimate down
    gate.enter()
    with pytest.raises(Busy) as refused:
        gate.enter()
    assert refused.value.retry_after == 8
