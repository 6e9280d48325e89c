"""``StoreContract``: the promises of ``lore.store.protocol.Store``, written once for every backend.

A backend's test module inherits it and supplies three fixtures (``StoreProcessContract`` in
``lore.testing.store_processes`` says what each must do); every backend then keeps the same
promises, crash safety and concurrent readers included.

Example::

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        def new_location(self, tmp_path: Path) -> NewLocation:
            names = itertools.count()
            return lambda: str(tmp_path / f"{next(names)}.db")

        @pytest.fixture
        def opener(self) -> StoreOpener:
            return SqliteStore

        @pytest.fixture
        def schema_record(self) -> SchemaRecord:
            return SqliteSchemaRecord()
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import closing
from dataclasses import fields
from pathlib import PurePosixPath

import numpy as np
import pytest

from lore.errors import SchemaVersionError, StoreError
from lore.store.protocol import DocumentWrite, FileRecord, Store, StoreOpener, WriteResult
from lore.testing.metadata_contract import MetadataContract
from lore.testing.store_processes import (
    DIM,
    NewLocation,
    SchemaRecord,
    StoreProcessContract,
    batch,
    document,
    rowids_by_chunk,
    state,
    write,
)
from lore.types import Chunk, ChunkKind, Document, Filter

__all__ = ["NewLocation", "SchemaRecord", "StoreContract"]

FILTER_CORPUS: tuple[tuple[str, str, str, ChunkKind, float], ...] = (
    ("/p/src/cache.py", "python", "python", "code", 100.0),
    ("/p/docs/cache.md", "markdown", "en", "prose", 200.0),
    ("/q/src/deep/notes.md", "markdown", "zh", "prose", 300.0),
    ("/q/readme.txt", "text", "en", "prose", 400.0))
"""Path, format, language, kind of its chunks, mtime: each field a filter can select by."""
FILTER_CASES = [
    (Filter(), {"cache.py", "cache.md", "notes.md", "readme.txt"}),
    (Filter(paths=("src/*",)), {"cache.py", "notes.md"}),  # relative; * crosses /
    (Filter(paths=("/p/*",)), {"cache.py", "cache.md"}),
    (Filter(paths=("*.md",)), {"cache.md", "notes.md"}),
    (Filter(paths=("cache.py",)), {"cache.py"}),
    (Filter(paths=("ache.py", "CACHE.py")), set()),  # whole names, case-sensitive
    (Filter(paths=("/p/src/*", "/q/readme.tx?")), {"cache.py", "readme.txt"}),
    (Filter(paths=("/[pq]/docs/*",)), {"cache.md"}),
    (Filter(formats=("markdown", "text")), {"cache.md", "notes.md", "readme.txt"}),
    (Filter(formats=("pdf",)), set()),
    (Filter(languages=("zh",)), {"notes.md"}),
    (Filter(kinds=("code",)), {"cache.py"}),
    (Filter(kinds=("prose",)), {"cache.md", "notes.md", "readme.txt"}),
    (Filter(modified_after=200.0), {"cache.md", "notes.md", "readme.txt"}),  # inclusive
    (Filter(modified_before=200.0), {"cache.py"}),  # exclusive
    (Filter(formats=("markdown",), languages=("en",), modified_before=350.0), {"cache.md"}),
]


def _describe(conditions: Filter) -> str:
    given = {f.name: getattr(conditions, f.name) for f in fields(conditions)}
    return ",".join(f"{k}={v}" for k, v in given.items() if v not in ((), None)) or "none"


class StoreContract(StoreProcessContract, MetadataContract):
    """Promises of ``lore.store.protocol.Store``, crash and concurrency ones included
    (``StoreProcessContract``); subclasses supply the fixtures the module docstring shows."""

    # -- documents and chunks ---------------------------------------------------------------

    def test_a_new_store_is_empty_and_writable(self, store: Store) -> None:
        assert (store.document_count(), store.chunk_count(), store.vector_count()) == (0, 0, 0)
        assert store.file_paths() == [] and store.changes_since(0) == []
        assert store.last_change() == 0 and store.get_meta("last_update") is None
        assert store.filtered_rowids(Filter()).size == 0
        store.require_writable()

    def test_chunks_read_back_equal_in_order_with_provenance(self, store: Store) -> None:
        parts = ["Caching.", "class Cache:\n    def get(self): ...", "Page two."]
        text = "\n\n".join(parts)
        doc = Document(path="/kb/cache.py", text=text, key="k", title="Cache", format="python",
                       language="python", mtime=5.0)
        (a, b, c) = ((text.index(p), text.index(p) + len(p)) for p in parts)
        chunks = [Chunk(doc.id, parts[0], *a, "Caching.", section=("A", "B"), lines=(1, 1)),
                  Chunk(doc.id, parts[1], *b, "def get", kind="code", section=("Cache",),
                        parent=b, lines=(3, 4), symbol="Cache.get"),
                  Chunk(doc.id, parts[2], *c, "Page two.", page=2)]
        result = store.write([DocumentWrite(doc, chunks, ["cach", "cache get", "page two"])])
        assert result == WriteResult(3, 0)
        rowids = [rowids_by_chunk(store)[c.id] for c in chunks]
        assert rowids == sorted(rowids) and len(set(rowids)) == 3  # new rows in chunk order
        stored = store.chunks([*rowids, max(rowids) + 1000])
        assert [stored[r].chunk for r in rowids] == chunks and len(stored) == 3
        assert {(s.path, s.title, s.doc_key) for s in stored.values()} == {
            ("/kb/cache.py", "Cache", "k")}
        assert sorted(store.chunk_kinds([*rowids, max(rowids) + 1000])) == [
            "code", "prose", "prose"]
        assert store.chunk_rowids([chunks[2].id, "unknown", chunks[0].id]) == {
            chunks[2].id: rowids[2], chunks[0].id: rowids[0]}
        assert store.document_texts([doc.id, doc.id, "unknown"]) == {doc.id: text}
        assert (store.document_count(), store.chunk_count()) == (1, 3)

    def test_file_records_and_document_hashes(self, store: Store) -> None:
        first, second = (document("/kb/q.jsonl", [f"Record {n}."], key=n, format="jsonl")
                         for n in ("1", "2"))
        record = FileRecord("/kb/q.jsonl", 10, 1.5, "abc")
        store.write([first, second], files=[record, FileRecord("/kb/a.md", 1, 2.0, "x")])
        assert store.file_record("/kb/q.jsonl") == record and store.file_record("/x") is None
        assert store.file_paths() == ["/kb/a.md", "/kb/q.jsonl"]
        assert store.document_hashes("/kb/q.jsonl") == {
            d.document.id: d.document.content_hash for d in (first, second)}
        assert store.document_hashes("/kb/a.md") == {}
        assert store.embedded_views("/kb/q.jsonl") == []  # no vectors yet
        view = first.chunks[0].view_hash
        store.put_vectors([view], np.ones((1, DIM), np.float32))
        assert store.embedded_views("/kb/q.jsonl") == [view]
        assert store.embedded_views("/kb/a.md") == []
        seq, touched = store.last_change(), FileRecord("/kb/q.jsonl", 10, 9.0, "abc")
        assert store.write([], files=[touched]) == WriteResult(0, 0)
        assert store.file_record("/kb/q.jsonl") == touched and store.last_change() == seq

    def test_rewriting_a_document_keeps_unchanged_chunks(self, store: Store) -> None:
        old = document("/kb/a.md", ["Alpha paragraph.", "Beta paragraph."])
        write(store, old)
        before, seq = rowids_by_chunk(store), store.last_change()
        new = document("/kb/a.md", ["Alpha paragraph.", "Gamma paragraph."])
        assert write(store, new) == WriteResult(1, 1)
        after = rowids_by_chunk(store)
        alpha, beta, gamma = old.chunks[0].id, old.chunks[1].id, new.chunks[1].id
        assert after[alpha] == before[alpha] and set(after) == {alpha, gamma}
        assert sorted((r, added) for _, r, added in store.changes_since(seq)) == sorted(
            [(before[beta], False), (after[gamma], True)])
        assert "beta" not in " ".join(store.chunk_terms()[1]) and store.chunk_count() == 2
        assert store.document_texts([new.document.id]) == {new.document.id: new.document.text}
        assert store.document_hashes("/kb/a.md") == {new.document.id: new.document.content_hash}

    def test_writing_the_same_batch_again_changes_nothing(self, store: Store) -> None:
        writes = batch("same", 3, 2)
        write(store, *writes)
        before = state(store)
        assert write(store, *writes) == WriteResult(0, 0)
        assert state(store) == before

    def test_removing_a_file_removes_its_documents_chunks_and_terms(self, store: Store) -> None:
        kept = document("/kb/a.md", ["Topic a text."])
        gone = [document("/kb/b.jsonl", [f"Record {n}."], key=n) for n in "12"]
        write(store, kept, *gone)
        assert store.write([], removed_files=["/kb/b.jsonl", "/kb/x.md"]) == WriteResult(0, 2)
        assert store.file_paths() == ["/kb/a.md"] and store.document_hashes("/kb/b.jsonl") == {}
        assert (store.document_count(), store.chunk_count()) == (1, 1)
        assert store.chunk_terms()[1] == list(kept.terms)
        assert store.document_texts([d.document.id for d in gone]) == {}

    def test_removing_documents_by_id_keeps_their_file(self, store: Store) -> None:
        first, second = (document("/kb/q.jsonl", [f"Record {n}.", "Shared."], key=n)
                         for n in "12")
        write(store, first, second)
        result = store.write([], removed_documents=[first.document.id, "unknown"])
        assert result == WriteResult(0, 2) and store.file_paths() == ["/kb/q.jsonl"]
        assert list(store.document_hashes("/kb/q.jsonl")) == [second.document.id]
        assert set(rowids_by_chunk(store)) == {c.id for c in second.chunks}

    # -- vectors and terms --------------------------------------------------------------------

    def test_vectors_are_content_addressed_by_view(self, store: Store) -> None:
        a, b = document("/kb/a.md", ["Shared view.", "Only in a."]), document("/kb/b.md",
                                                                             ["Shared view."])
        write(store, a, b, document("/kb/c.md", ["Never embedded."]))
        hashes = [c.view_hash for c in a.chunks]
        assert store.missing_vectors([hashes[1], *hashes, "x", hashes[1]]) == [*hashes[::-1], "x"]
        rows = np.arange(2 * DIM, dtype=np.float32).reshape(2, DIM)
        store.put_vectors(hashes, rows)
        store.put_vectors(hashes[:1], rows[1:])  # already stored: the first vector stays
        assert store.missing_vectors([*hashes, "x"]) == ["x"] and store.vector_count() == 2
        ids = rowids_by_chunk(store)
        keys, matrix = store.chunk_vectors(dim=DIM)
        assert keys.dtype == np.int64 and matrix.dtype == np.float32
        assert dict(zip(keys.tolist(), matrix.tolist(), strict=True)) == {
            ids[a.chunks[0].id]: rows[0].tolist(), ids[a.chunks[1].id]: rows[1].tolist(),
            ids[b.chunks[0].id]: rows[0].tolist()}
        some_keys, some = store.chunk_vectors([ids[b.chunks[0].id], 10**9], dim=DIM)
        assert some_keys.tolist() == [ids[b.chunks[0].id]] and some.tolist() == [rows[0].tolist()]
        none_keys, none = store.chunk_vectors([10**9], dim=DIM)
        assert none_keys.shape == (0,) and none.shape == (0, DIM)

    def test_vectors_by_rowid_come_back_in_the_order_asked(self, store: Store) -> None:
        written = document("/kb/a.md", [f"Paragraph number {i}." for i in range(5)])
        write(store, written)
        rows = np.arange(5 * DIM, dtype=np.float32).reshape(5, DIM)
        store.put_vectors([c.view_hash for c in written.chunks], rows)
        ids = [rowids_by_chunk(store)[c.id] for c in written.chunks]
        wanted = np.array([ids[3], ids[0], ids[4], ids[0]], dtype=np.int64)
        np.testing.assert_array_equal(store.vectors_by_rowid(wanted, DIM), rows[[3, 0, 4, 0]])
        assert store.vectors_by_rowid(np.array([], dtype=np.int64), DIM).shape == (0, DIM)
        with pytest.raises(StoreError):
            store.vectors_by_rowid(np.array([ids[0], max(ids) + 1000]), DIM)

    def test_orphan_vectors_are_dropped_and_used_ones_kept(self, store: Store) -> None:
        written = document("/kb/a.md", ["Kept."])
        write(store, written)
        used = written.chunks[0].view_hash
        store.put_vectors([used, "orphan"], np.ones((2, DIM), dtype=np.float32))
        store.drop_orphan_vectors()
        assert store.missing_vectors([used, "orphan"]) == ["orphan"]
        store.write([], removed_files=["/kb/a.md"])
        store.drop_orphan_vectors()
        assert store.vector_count() == 0

    def test_switching_the_embedder_forgets_every_vector(self, store: Store) -> None:
        written = document("/kb/a.md", ["One view.", "Two view."])
        write(store, written)
        assert sorted(store.views_without_vectors()) == sorted(
            (c.view_hash, c.view) for c in written.chunks)
        store.put_vectors([c.view_hash for c in written.chunks], np.ones((2, DIM), np.float32))
        assert store.views_without_vectors() == []
        store.switch_embedder({"model": "other", "dimension": "8"})
        assert store.vector_count() == 0 and store.get_meta("model") == "other"
        assert sorted(store.views_without_vectors()) == sorted(
            (c.view_hash, c.view) for c in written.chunks)
        assert store.chunk_vectors(dim=8)[1].shape == (0, 8)

    def test_chunk_terms_are_the_terms_written(self, store: Store) -> None:
        written = document("/kb/a.md", ["Caches expire.", "Retries back off.", "Logs rotate."])
        write(store, written)
        ids = [rowids_by_chunk(store)[c.id] for c in written.chunks]
        keys, texts = store.chunk_terms()
        assert dict(zip(keys.tolist(), texts, strict=True)) == dict(
            zip(ids, written.terms, strict=True))
        keys, texts = store.chunk_terms([ids[2], max(ids) + 1000])
        assert (keys.tolist(), texts) == ([ids[2]], [written.terms[2]])

    # -- filters --------------------------------------------------------------------------------

    @pytest.mark.parametrize(("conditions", "expected"), FILTER_CASES,
                             ids=[_describe(f) for f, _ in FILTER_CASES])
    def test_filters_select_chunks(self, store: Store, conditions: Filter,
                                   expected: set[str]) -> None:
        for path, form, language, kind, mtime in FILTER_CORPUS:
            write(store, document(path, [f"{path} one.", f"{path} two."], format=form,
                                  language=language, kind=kind, mtime=mtime))
        rowids = store.filtered_rowids(conditions)
        assert rowids.dtype == np.int64 and len(set(rowids.tolist())) == len(rowids)
        assert rowids.tolist() == sorted(rowids.tolist())
        chunks = store.chunks(rowids.tolist())
        assert {PurePosixPath(c.path).name for c in chunks.values()} == expected
        assert len(rowids) == 2 * len(expected)

    # -- change log and meta --------------------------------------------------------------------

    def test_the_change_log_records_every_added_and_removed_chunk(self, store: Store) -> None:
        a, b = document("/kb/a.md", ["A one.", "A two."]), document("/kb/b.md", ["B one."])
        write(store, a, b)
        ids, log = rowids_by_chunk(store), store.changes_since(0)
        assert sorted((r, added) for _, r, added in log) == sorted((r, True) for r in ids.values())
        seqs = [seq for seq, _, _ in log]
        assert seqs == sorted(set(seqs)) and seqs[0] > 0 and store.last_change() == seqs[-1]
        middle = store.last_change()
        store.write([], removed_files=["/kb/a.md"])
        later = store.changes_since(middle)
        assert sorted((r, added) for _, r, added in later) == sorted(
            (ids[c.id], False) for c in a.chunks)
        assert min(seq for seq, _, _ in later) > middle
        assert store.changes_since(store.last_change()) == []

    def test_replaying_the_log_gives_the_current_chunks(self, store: Store) -> None:
        write(store, *batch("a", 2, 3))
        seen, seq = set(store.filtered_rowids(Filter()).tolist()), store.last_change()
        write(store, document("/a/00000.md", ["a note 0 part 0 on topic0.", "Changed."]))
        store.write([], removed_files=["/a/00001.md"])
        write(store, *batch("b", 2, 2))
        starts: list[tuple[int, set[int]]] = [(0, set()), (seq, seen)]
        for start, live in starts:
            for _, rowid, added in store.changes_since(start):
                (live.add if added else live.discard)(rowid)
            assert live == set(store.filtered_rowids(Filter()).tolist())
            assert live == set(store.chunk_terms()[0].tolist())

    def test_trimming_keeps_numbers_rising_even_after_reopening(
            self, opener: StoreOpener, location: str) -> None:
        with closing(opener(location)) as store:
            write(store, *batch("a", 2, 2))
            seqs, last = [s for s, _, _ in store.changes_since(0)], store.last_change()
            store.trim_changes(seqs[1])
            assert [s for s, _, _ in store.changes_since(0)] == seqs[2:]
            assert store.last_change() == last and store.get_meta("changes_floor") == str(seqs[1])
            store.trim_changes(last)
            assert store.changes_since(0) == [] and store.last_change() == last
        with closing(opener(location)) as store:
            assert store.last_change() == last
            write(store, *batch("b", 1, 2))
            assert min(seq for seq, _, _ in store.changes_since(0)) > last

    def test_meta_is_a_string_map_and_content_writes_stamp_it(self, store: Store) -> None:
        assert store.get_meta("x") is None
        store.set_meta({"x": "1", "y": "two"})
        store.set_meta({"x": "3"})
        assert (store.get_meta("x"), store.get_meta("y")) == ("3", "two")
        write(store, document("/kb/a.md", ["Text."]))
        assert store.get_meta("last_update")

    # -- schema ---------------------------------------------------------------------------------

    def test_a_new_store_is_at_the_current_schema(self, store: Store, location: str,
                                                  schema_record: SchemaRecord) -> None:
        assert store.schema_version > 0
        assert schema_record.get(location) == store.schema_version

    def test_a_store_from_a_newer_schema_is_refused_and_left_alone(
            self, opener: StoreOpener, location: str, schema_record: SchemaRecord) -> None:
        with closing(opener(location)) as store:
            write(store, document("/kb/a.md", ["Kept."]))
            current = store.schema_version
        schema_record.set(location, current + 7)
        for read_only in (False, True):
            with pytest.raises(SchemaVersionError) as refused:
                opener(location, read_only=read_only)
            for version in (current + 7, current):
                assert re.search(rf"\b{version}\b", str(refused.value)), refused.value
        assert schema_record.get(location) == current + 7
        schema_record.set(location, current)
        with closing(opener(location)) as store:
            assert store.document_count() == 1

    def test_reopening_keeps_everything(self, opener: StoreOpener, location: str) -> None:
        with closing(opener(location)) as store:
            written = batch("a", 3, 2)
            write(store, *written)
            store.put_vectors([c.view_hash for c in written[0].chunks],
                              np.ones((2, DIM), dtype=np.float32))
            store.set_meta({"model": "hash"})
            store.trim_changes(store.changes_since(0)[2][0])
            before = state(store)
        with closing(opener(location)) as store:
            assert state(store) == before and store.size_bytes() > 0

    # -- read-only use --------------------------------------------------------------------------

    def test_a_read_only_store_reads_and_refuses_every_write(
            self, opener: StoreOpener, location: str) -> None:
        written = document("/kb/a.md", ["One.", "Two."])
        with closing(opener(location)) as store:
            write(store, written)
            store.put_vectors([written.chunks[0].view_hash], np.ones((1, DIM), np.float32))
            before = state(store)
        attempts: dict[str, Callable[[Store], object]] = {
            "require_writable": lambda s: s.require_writable(),
            "write": lambda s: write(s, document("/kb/b.md", ["New."])),
            "remove": lambda s: s.write([], removed_files=["/kb/a.md"]),
            "set_meta": lambda s: s.set_meta({"x": "y"}),
            "put_vectors": lambda s: s.put_vectors(["h"], np.ones((1, DIM), np.float32)),
            "drop_orphan_vectors": lambda s: s.drop_orphan_vectors(),
            "switch_embedder": lambda s: s.switch_embedder({"model": "x"}),
            "trim_changes": lambda s: s.trim_changes(s.last_change())}
        with closing(opener(location, read_only=True)) as reader:
            for name, attempt in attempts.items():
                with pytest.raises(StoreError):
                    attempt(reader)
                assert state(reader) == before, name
        with closing(opener(location)) as store:
            assert state(store) == before

    def test_no_store_is_opened_read_only_where_there_is_none(
            self, opener: StoreOpener, location: str) -> None:
        with pytest.raises(StoreError):
            opener(location, read_only=True)
