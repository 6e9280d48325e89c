"""The half of ``StoreContract`` that needs real processes and threads, and the builders both
halves share.

The fixtures a backend supplies are named here: ``new_location`` (a factory of fresh, empty
locations: file paths, database URLs), ``opener`` (a ``StoreOpener``; it must pickle, as
children open stores with it) and ``schema_record`` (reads and overwrites the schema version
recorded at a location, to fake a newer store). A child is a new Python process running a
task of this module, pickled onto its command line; crash tests kill it with SIGKILL.
"""

from __future__ import annotations

import base64
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing
from pathlib import PurePosixPath
from typing import Any, Protocol, overload

import pytest

from lore.store.protocol import DocumentWrite, FileRecord, Store, StoreOpener, WriteResult
from lore.types import Chunk, ChunkKind, Document, Filter

NewLocation = Callable[[], str]
"""Gives a fresh, empty location each call."""
DIM = 4
PATIENCE = 120.0
"""Seconds a reader may stay blocked before the suite calls it stuck (a guard against a hang,
not a measurement)."""


class SchemaRecord(Protocol):
    """The schema version recorded at a location, read and overwritten behind the store."""

    def get(self, location: str) -> int: ...
    def set(self, location: str, version: int) -> None: ...


def document(path: str, paragraphs: Sequence[str], *, key: str = "", format: str = "markdown",
             language: str = "en", mtime: float = 1_700_000_000.0,
             kind: ChunkKind = "prose") -> DocumentWrite:
    """A document of one chunk per paragraph; equal paragraphs make equal views."""
    text = "\n\n".join(paragraphs)
    doc = Document(path=path, text=text, key=key, title=PurePosixPath(path).name,
                   format=format, language=language, mtime=mtime)
    chunks, offset = [], 0
    for line, paragraph in enumerate(paragraphs, 1):
        start = text.index(paragraph, offset)
        offset = start + len(paragraph)
        chunks.append(Chunk(doc_id=doc.id, text=paragraph, start=start, end=offset,
                            view=paragraph, kind=kind, section=("Intro",), lines=(line, line)))
    return DocumentWrite(doc, chunks, [" ".join(re.findall(r"\w+", c.view.lower()))
                                       for c in chunks])


def batch(tag: str, documents: int, chunks: int) -> list[DocumentWrite]:
    return [document(f"/{tag}/{i:05d}.md", [f"{tag} note {i} part {j} on topic{(i + j) % 13}."
                                            for j in range(chunks)]) for i in range(documents)]


def write(store: Store, *writes: DocumentWrite) -> WriteResult:
    """Write documents with a file record each, as an index run does."""
    return store.write(list(writes), files=[_record(w) for w in writes])


def rowids_by_chunk(store: Store) -> dict[str, int]:
    """``{Chunk.id: rowid}`` of every stored chunk."""
    stored = store.chunks(store.filtered_rowids(Filter()).tolist())
    return {item.chunk.id: rowid for rowid, item in stored.items()}


def state(store: Store) -> dict[str, object]:
    """Everything the store holds, as its read methods tell it."""
    keys, texts = store.chunk_terms()
    vector_keys, matrix = store.chunk_vectors(dim=DIM)
    paths = store.file_paths()
    return {"counts": (store.document_count(), store.chunk_count(), store.vector_count()),
            "files": [store.file_record(p) for p in paths],
            "documents": {p: store.document_hashes(p) for p in paths},
            "chunks": store.chunks(store.filtered_rowids(Filter()).tolist()),
            "terms": dict(zip(keys.tolist(), texts, strict=True)),
            "vectors": dict(zip(vector_keys.tolist(), matrix.tolist(), strict=True)),
            "changes": store.changes_since(0), "last": store.last_change(),
            "meta": {k: store.get_meta(k) for k in ("last_update", "changes_floor", "model")}}


def sizes(store: Store) -> tuple[int, ...]:
    """Files, chunks, changes and filtered rows: each from one read, so one committed state."""
    return (len(store.file_paths()), len(store.chunk_terms()[0]), len(store.changes_since(0)),
            len(store.filtered_rowids(Filter(formats=("markdown",)))))


class StoreProcessContract:
    """Crash and concurrency promises of ``lore.store.protocol.Store``; subclasses (through
    ``StoreContract``) supply the fixtures named in the module docstring."""

    @pytest.fixture
    def location(self, new_location: NewLocation) -> str:
        return new_location()

    @pytest.fixture
    def store(self, opener: StoreOpener, location: str) -> Iterator[Store]:
        with closing(opener(location)) as opened:
            yield opened

    # -- opening -------------------------------------------------------------------------------

    @pytest.mark.slow
    def test_two_processes_creating_one_store_at_once_both_succeed(
            self, opener: StoreOpener, new_location: NewLocation,
            schema_record: SchemaRecord) -> None:
        locations = [new_location() for _ in range(8)]
        racers = [spawn(_open_in_turn, opener, locations) for _ in range(2)]
        for racer in racers:
            expect(racer, "ready")  # both have started and imported what they need
        start = time.time() + 0.05
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write(f"{start!r}\n")
            racer.stdin.flush()
        for racer in racers:
            finish(racer)
        for location in locations:
            with closing(opener(location)) as store:
                assert schema_record.get(location) == store.schema_version

    # -- crashes ----------------------------------------------------------------------------------

    @pytest.mark.slow
    @pytest.mark.parametrize("handed", [1, 150])
    def test_a_write_killed_midway_leaves_none_of_it(
            self, opener: StoreOpener, location: str, handed: int) -> None:
        with closing(opener(location)) as store:
            write(store, *batch("old", 3, 2))
            before = state(store)
        child = spawn(_write_batch, opener, location, "new", 300, 8, handed, True)
        expect(child, "handed")  # ``handed`` documents are inside the write, which waits
        kill(child)
        with closing(opener(location)) as store:
            assert state(store) == before
            write(store, *batch("after", 2, 2))
            assert store.document_count() == 5

    @pytest.mark.slow
    @pytest.mark.parametrize("handed", [300, 599], ids=["half", "last"])
    def test_a_write_killed_at_any_moment_is_all_or_nothing(
            self, opener: StoreOpener, location: str, handed: int) -> None:
        child = spawn(_write_batch, opener, location, "new", 600, 8, handed, False)
        expect(child, "handed")  # the write goes on: the kill lands later in it, or after
        kill(child)
        with closing(opener(location)) as store:
            assert sizes(store) in {(0, 0, 0, 0), (600, 4800, 4800, 4800)}
            assert (store.document_count(), store.chunk_count()) in {(0, 0), (600, 4800)}

    @pytest.mark.slow
    def test_a_write_that_returned_survives_a_kill(self, opener: StoreOpener,
                                                   location: str) -> None:
        child = spawn(_write_batch, opener, location, "new", 300, 8, None, False)
        expect(child, "written")
        kill(child)
        with closing(opener(location)) as store:
            assert sizes(store) == (300, 2400, 2400, 2400)
            assert store.file_paths() == sorted(w.document.path for w in batch("new", 300, 1))

    # -- concurrent readers ---------------------------------------------------------------------

    @pytest.mark.slow
    def test_a_reader_sees_before_or_after_a_write_and_is_not_blocked(
            self, opener: StoreOpener, location: str) -> None:
        with closing(opener(location)) as store:
            write(store, *batch("old", 3, 2))
            before = state(store)
        child = spawn(_write_batch, opener, location, "new", 40, 4, 20, True)
        with ThreadPoolExecutor(1) as pool:
            expect(child, "handed")
            during = pool.submit(_state_at, opener, location)
            try:
                assert during.result(timeout=PATIENCE) == before
            except FutureTimeout:
                pytest.fail("a reader was blocked while a write was under way")
            finally:
                release(child)
        expect(child, "written")
        with closing(opener(location)) as reader:
            assert sizes(reader) == (43, 166, 166, 166)
        finish(child)

    @pytest.mark.parametrize("shared", [False, True], ids=["own-store", "shared-store"])
    def test_readers_in_threads_see_only_whole_writes(
            self, opener: StoreOpener, location: str, shared: bool) -> None:
        with closing(opener(location)) as writer:
            reader = writer if shared else opener(location)
            done, seen = threading.Event(), [sizes(reader)]
            with ThreadPoolExecutor(1) as pool:
                reading = pool.submit(_read_until, reader, done, seen)
                try:
                    for i in range(20):
                        write(writer, *batch(f"b{i}", 4, 3))
                finally:
                    done.set()
                reading.result()
            if not shared:
                reader.close()
        assert seen[-1] == (80, 240, 240, 240)
        for column, whole in zip(zip(*seen, strict=True), (4, 12, 12, 12), strict=True):
            assert all(size % whole == 0 for size in column), column  # no part of a write
            assert list(column) == sorted(column)


# -- child processes ------------------------------------------------------------------------------

_CHILD = "from lore.testing.store_processes import run_child; run_child()"


def spawn(task: Callable[..., None], *args: object) -> subprocess.Popen[str]:
    """Run ``task(*args)`` in a new Python process; both must pickle."""
    job = base64.b64encode(pickle.dumps((task, args))).decode()
    return subprocess.Popen([sys.executable, "-c", _CHILD, job], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_child() -> None:
    """A child's entry point: run the pickled task given on the command line."""
    task, args = pickle.loads(base64.b64decode(sys.argv[1]))
    task(*args)


def expect(child: subprocess.Popen[str], word: str) -> None:
    """Read the child's lines until it says ``word``; fail with its stderr if it ends first."""
    assert child.stdout is not None and child.stderr is not None
    for line in iter(child.stdout.readline, ""):
        if line.strip() == word:
            return
    child.wait()
    pytest.fail(f"the child ended ({child.returncode}) before {word!r}: {child.stderr.read()}")


def release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.flush()


def kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL


def finish(child: subprocess.Popen[str]) -> None:
    _, errors = child.communicate(timeout=PATIENCE)
    assert child.returncode == 0, errors


def _say(word: str) -> None:
    print(word, flush=True)


class _Marked(Sequence[DocumentWrite]):
    """Hands out ``items``; asked for item ``mark``, it says ``handed`` first and, if it is to
    wait, reads a line from stdin. A store that reads its batch inside its transaction (a
    store may take it all first: then this is before the write) is then in mid-write."""

    def __init__(self, items: list[DocumentWrite], mark: int | None, wait: bool) -> None:
        self._items, self._mark, self._wait = items, mark, wait

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> DocumentWrite: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[DocumentWrite]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if index == self._mark:
            self._mark = None
            _say("handed")
            if self._wait:
                sys.stdin.readline()
        return self._items[index]


def _write_batch(opener: StoreOpener, location: str, tag: str, documents: int, chunks: int,
                 mark: int | None, wait: bool) -> None:
    """Child task: one large write, marked (``_Marked``) where asked; then it says
    ``written`` and waits for a line or the end of stdin before it closes the store."""
    store = opener(location)
    writes = batch(tag, documents, chunks)
    store.write(_Marked(writes, mark, wait), files=[_record(w) for w in writes])
    _say("written")
    sys.stdin.readline()
    store.close()


def _open_in_turn(opener: StoreOpener, locations: list[str]) -> None:
    """Child task: say ``ready``, read the start moment, then open each new location at its
    moment, as the other racer does."""
    _say("ready")
    start = float(sys.stdin.readline())
    for i, location in enumerate(locations):
        moment = start + i * 0.05
        time.sleep(max(0.0, moment - time.time() - 0.01))
        while time.time() < moment:
            pass  # both racers leave together, to the millisecond
        opener(location).close()


def _state_at(opener: StoreOpener, location: str) -> dict[str, object]:
    with closing(opener(location)) as reader:
        return state(reader)


def _read_until(store: Store, done: threading.Event, seen: list[tuple[int, ...]]) -> None:
    while not done.is_set():
        seen.append(sizes(store))
    seen.append(sizes(store))


def _record(written: DocumentWrite) -> FileRecord:
    doc = written.document
    return FileRecord(doc.path, len(doc.text), doc.mtime, doc.content_hash)
