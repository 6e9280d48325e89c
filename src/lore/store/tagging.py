"""Chunks' concepts tagged on several cores. The tagger (``lore.text.concepts``) is pure
Python and holds the GIL, so each extra core gets a process of its own.

The processes are plain ``python -m lore.store.tagging_process`` children that read batches
of (title, text) on standard input and answer each batch's concepts on standard output. Not
``multiprocessing``: its ``spawn`` and ``forkserver`` start methods import the caller's main
module again in every child, which breaks a script that calls ``kb.index`` outside an
``if __name__ == "__main__"`` guard, and ``fork`` copies a process whose model threads may
hold locks. A thread per child writes a batch and reads its answer, so this process reads
the store while the children tag.
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import subprocess
import sys
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from lore.errors import StoreError
from lore.text.concepts import MAX_PHRASE_WORDS, concepts

Label = TypeVar("Label")
Batch = list[tuple[str, str]]
"""(document title, chunk text) pairs."""
Tagged = list[list[str]]

AHEAD = 2
"""Batches queued per process beyond the one it tags: enough to never leave it idle, few
enough that what waits stays small."""


def tag_in_order(batches: Iterable[tuple[Label, Batch]], workers: int
                 ) -> Generator[tuple[Label, Tagged], None, None]:
    """Each batch's chunk concepts (``chunk_concepts``), in the order the batches came, with
    the label each came with; tagged in ``workers`` processes when more than one."""
    if workers <= 1 or not sys.executable:
        for label, batch in batches:
            yield label, tag(batch)
        return
    taggers = _Taggers(workers)
    threads = ThreadPoolExecutor(workers, thread_name_prefix="lore-tagging")
    waiting: deque[tuple[Label, Future[Tagged]]] = deque()
    try:
        for label, batch in batches:
            waiting.append((label, threads.submit(taggers.tag, batch)))
            if len(waiting) > workers * AHEAD:
                done, future = waiting.popleft()
                yield done, future.result()
        while waiting:
            done, future = waiting.popleft()
            yield done, future.result()
    finally:  # also when stopped early: the batches being tagged finish, the rest are dropped
        threads.shutdown(wait=True, cancel_futures=True)
        taggers.close()


def tag(batch: Batch) -> Tagged:
    return [chunk_concepts(title, text) for title, text in batch]


def chunk_concepts(title: str, text: str) -> list[str]:
    """A chunk's concepts: its document's title as one (when it is short enough to be a
    name), then those of its text."""
    named = concepts(title)
    whole = title.strip().lower()
    if whole and len(whole.split()) <= MAX_PHRASE_WORDS:
        named = [whole, *named]
    return list(dict.fromkeys([*named, *concepts(text)]))


class _Taggers:
    """Child processes, each lent to one thread at a time."""

    def __init__(self, count: int) -> None:
        self._all: list[subprocess.Popen[bytes]] = []
        self._idle: queue.Queue[subprocess.Popen[bytes]] = queue.Queue()
        try:
            for _ in range(count):
                child = subprocess.Popen([sys.executable, "-m", "lore.store.tagging_process"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                self._all.append(child)
                self._idle.put(child)
        except OSError:
            self.close()
            raise

    def tag(self, batch: Batch) -> Tagged:
        child = self._idle.get()
        try:
            assert child.stdin is not None and child.stdout is not None
            pickle.dump(batch, child.stdin)
            child.stdin.flush()
            answer = pickle.load(child.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise StoreError(f"a process tagging concepts ended (exit code {child.poll()}); "
                             "run the same command again, or set index.concept_workers "
                             "= 1 to tag in this process") from None
        finally:
            self._idle.put(child)
        if isinstance(answer, str):  # the tagger failed: its traceback
            raise StoreError(f"tagging concepts failed in a child process:\n{answer}")
        tagged: Tagged = answer
        return tagged

    def close(self) -> None:
        for child in self._all:
            if child.stdin is not None:
                with contextlib.suppress(OSError):
                    child.stdin.close()  # the child's next read ends it
        for child in self._all:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
