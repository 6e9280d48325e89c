import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lore.errors import SchemaVersionError, StoreError
from lore.store.bm25 import BM25Index
from lore.store.migrations import SCHEMA_VERSION
from lore.store.protocol import DocumentWrite, FileRecord
from lore.store.sqlite import SqliteStore
from lore.testing.permissions import as_ordinary_user
from lore.text.analyze import analyze
from lore.types import Chunk, Document, Filter


def make_document(path: str, paragraphs: list[str], key: str = "") -> tuple[Document, list[Chunk]]:
    text = "\n\n".join(paragraphs)
    document = Document(path=path, text=text, key=key, title=Path(path).name, format="markdown",
                        language="en", mtime=1_700_000_000.0)
    chunks, offset = [], 0
    for paragraph in paragraphs:
        start = text.index(paragraph, offset)
        offset = start + len(paragraph)
        chunks.append(Chunk(doc_id=document.id, text=paragraph, start=start, end=offset,
                            view=paragraph, section=("Intro",), lines=(1, 1)))
    return document, chunks


def write(store: SqliteStore, document: Document, chunks: list[Chunk]) -> None:
    terms = [" ".join(analyze(c.view)) for c in chunks]
    store.write([DocumentWrite(document, chunks, terms)],
                files=[FileRecord(document.path, 10, 1.0, "h")])


def search(store: SqliteStore, query: str, where: Filter | None = None) -> list[int]:
    """Rowids matching ``query`` in the stored terms, as the derived BM25 index reads them."""
    keys, texts = store.chunk_terms()
    index = BM25Index()
    index.add(keys, [text.split() for text in texts])
    allowed = store.filtered_rowids(where) if where else None
    return index.search(analyze(query), 10, allowed)[0].tolist()


def test_written_chunks_read_back_with_provenance() -> None:
    store = SqliteStore(None)
    document, chunks = make_document("/kb/a.md", ["Caches expire entries.", "Retries back off."])
    write(store, document, chunks)
    (rowid,) = search(store, "expiring caches")
    stored = store.chunks([rowid])[rowid]
    assert stored.chunk == chunks[0]
    assert (stored.path, stored.title) == ("/kb/a.md", "a.md")
    assert store.document_count() == 1 and store.chunk_count() == 2
    assert [added for _, _, added in store.changes_since(0)] == [True, True]


def test_rewriting_a_document_keeps_unchanged_chunks_and_logs_the_rest() -> None:
    store = SqliteStore(None)
    document, chunks = make_document("/kb/a.md", ["Alpha paragraph.", "Beta paragraph."])
    write(store, document, chunks)
    before = {c.chunk.id: r for r, c in store.chunks(search(store, "paragraph")).items()}
    seq = store.last_change()
    changed, new_chunks = make_document("/kb/a.md", ["Alpha paragraph.", "Gamma paragraph."])
    result = store.write([DocumentWrite(changed, new_chunks, ["alpha", "gamma"])])
    assert (result.chunks_added, result.chunks_removed) == (1, 1)
    after = {c.chunk.id: r for r, c in store.chunks(search(store, "alpha gamma")).items()}
    assert after[new_chunks[0].id] == before[chunks[0].id]  # same row, not re-added
    assert search(store, "beta") == []
    log = store.changes_since(seq)
    assert sorted(added for _, _, added in log) == [False, True]


def test_removing_a_file_removes_documents_chunks_and_terms() -> None:
    store = SqliteStore(None)
    for name in ("a", "b"):
        document, chunks = make_document(f"/kb/{name}.md", [f"Topic {name} text."])
        write(store, document, chunks)
    store.write([], removed_files=["/kb/a.md"])
    assert store.file_paths() == ["/kb/b.md"]
    assert store.document_count() == 1 and store.chunk_count() == 1
    assert len(search(store, "topic text")) == 1


def test_vectors_are_content_addressed_and_orphans_dropped() -> None:
    store = SqliteStore(None)
    document, chunks = make_document("/kb/a.md", ["One.", "Two."])
    hashes = [c.view_hash for c in chunks]
    assert store.missing_vectors(hashes + hashes) == hashes
    store.put_vectors(hashes[:1], np.ones((1, 4), dtype=np.float32))
    store.put_vectors(["orphan"], np.zeros((1, 4), dtype=np.float32))
    assert store.missing_vectors(hashes) == hashes[1:]
    store.put_vectors(hashes[1:], np.full((1, 4), 2.0, dtype=np.float32))
    write(store, document, chunks)
    store.drop_orphan_vectors()
    assert store.vector_count() == 2
    keys, matrix = store.chunk_vectors(dim=4)
    assert matrix.shape == (2, 4) and sorted(matrix[:, 0].tolist()) == [1.0, 2.0]
    one_key, one = store.chunk_vectors([int(keys[0])], dim=4)
    assert one_key.tolist() == [keys[0]] and one.shape == (1, 4)


def test_vectors_by_rowid_come_back_in_the_order_asked() -> None:
    store = SqliteStore(None)
    document, chunks = make_document("/kb/a.md", [f"Paragraph number {i}." for i in range(5)])
    write(store, document, chunks)
    store.put_vectors([c.view_hash for c in chunks],
                      np.arange(20, dtype=np.float32).reshape(5, 4))
    keys, matrix = store.chunk_vectors(dim=4)
    wanted = keys[[3, 0, 4, 0]]
    np.testing.assert_array_equal(store.vectors_by_rowid(wanted, dim=4), matrix[[3, 0, 4, 0]])
    assert store.vectors_by_rowid(np.array([], dtype=np.int64), dim=4).shape == (0, 4)
    with pytest.raises(StoreError, match="search again|rebuild"):
        store.vectors_by_rowid(np.array([int(keys[0]), 999_999]), dim=4)


def test_filters_restrict_lexical_search() -> None:
    store = SqliteStore(None)
    for path in ("/p/src/cache.md", "/p/docs/cache.md"):
        document, chunks = make_document(path, ["cache eviction policy"])
        write(store, document, chunks)
    only_src = search(store, "cache", Filter(paths=("src/*",)))
    assert [store.chunks(only_src)[r].path for r in only_src] == ["/p/src/cache.md"]
    assert search(store, "cache", Filter(formats=("pdf",))) == []
    assert len(search(store, "cache", Filter(modified_after=1_600_000_000.0))) == 2
    assert search(store, "cache", Filter(modified_before=1_600_000_000.0)) == []


def test_a_store_from_a_newer_lore_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lore.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaVersionError, match="newer lore"):
        SqliteStore(path)


def test_a_damaged_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "lore.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        SqliteStore(path)


def test_readers_see_only_committed_state_while_a_writer_works(tmp_path: Path) -> None:
    path = tmp_path / "lore.db"
    writer, reader = SqliteStore(path), SqliteStore(path)
    document, chunks = make_document("/kb/a.md", ["Committed."])
    write(writer, document, chunks)
    with writer._transaction() as db:
        db.execute("DELETE FROM chunks")
        assert reader.chunk_count() == 1  # the reader is not blocked and sees the old state
    assert reader.chunk_count() == 0


@pytest.mark.parametrize(("version", "message"), [
    (-1, "says schema version -1, which no lore writes"),
    (0, "says schema version 0, but upgrading it failed"),
])
def test_a_store_whose_version_was_changed_says_so(tmp_path: Path, version: int,
                                                   message: str) -> None:
    SqliteStore(tmp_path / "lore.db").close()
    with sqlite3.connect(tmp_path / "lore.db") as db:
        db.execute(f"PRAGMA user_version = {version}")
    with pytest.raises(SchemaVersionError, match=message) as error:
        SqliteStore(tmp_path / "lore.db")
    assert "move it aside" in str(error.value) and "damaged" not in str(error.value)


RACE = """
import sys, time
from pathlib import Path
from lore.store.sqlite import SqliteStore
start = float(sys.argv[2])
for i in range(int(sys.argv[3])):
    while time.time() < start + i * 0.2:
        pass
    SqliteStore(Path(sys.argv[1]) / f"{i}.db").close()
"""


def test_two_processes_creating_one_store_at_once_both_succeed(tmp_path: Path) -> None:
    start, rounds = time.time() + 3, 15
    racers = [subprocess.Popen([sys.executable, "-c", RACE, str(tmp_path), str(start),
                                str(rounds)], stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    errors = [racer.communicate(timeout=120)[1] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], errors
    for i in range(rounds):
        assert SqliteStore(tmp_path / f"{i}.db").schema_version == SCHEMA_VERSION


READ_ONLY = """
import sys
import lore
from lore.errors import StoreError
with lore.open(sys.argv[1], create=False) as kb:
    print(kb.search("lighthouses", k=1)[0].path)
    try:
        kb.index([sys.argv[2]])
    except StoreError as error:
        print(error)
"""


def test_a_read_only_knowledge_base_is_searched_and_refuses_writes_plainly(
        tmp_path: Path) -> None:
    import lore

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("Lighthouses guide ships at night.\n")
    with lore.open(tmp_path / "kb", model="hash") as kb:
        kb.index([notes])
    for path in [tmp_path / "kb", *(tmp_path / "kb").rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        done = subprocess.run([sys.executable, "-c", READ_ONLY, str(tmp_path / "kb"),
                               str(notes)], capture_output=True, text=True, timeout=300,
                              preexec_fn=as_ordinary_user)
    finally:
        for path in [tmp_path / "kb", *(tmp_path / "kb").rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert done.returncode == 0, done.stderr
    found, refusal = done.stdout.strip().splitlines()
    assert found.endswith("a.md")
    assert "is read-only for this user" in refusal and "damaged" not in refusal
