"""SqliteStore keeps every ``Store`` promise (``StoreContract``); below it, what only SQLite
has: a damaged file, versions another program wrote, a file this user may not write."""

import itertools
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lore.errors import SchemaVersionError, StoreError
from lore.store.protocol import StoreOpener
from lore.store.sqlite import SqliteStore
from lore.testing.permissions import as_ordinary_user
from lore.testing.store_contract import NewLocation, SchemaRecord, StoreContract
from lore.testing.store_processes import document, write
from lore.types import Filter


class SqliteSchemaRecord:
    """The version SQLite records in the file header (``PRAGMA user_version``)."""

    def get(self, location: str) -> int:
        with sqlite3.connect(location) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def set(self, location: str, version: int) -> None:
        with sqlite3.connect(location) as db:
            db.execute(f"PRAGMA user_version = {int(version)}")


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


def test_an_in_memory_store_keeps_nothing_on_disk() -> None:
    store = SqliteStore(None)
    write(store, document("/kb/a.md", ["Kept in memory."]))
    assert store.chunk_count() == 1 and store.size_bytes() == 0
    assert store.filtered_rowids(Filter(paths=("a.md",))).size == 1


def test_the_store_file_is_in_wal_mode_with_a_log_beside_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "lore.db")
    write(store, document("/kb/a.md", ["Logged ahead."]))
    with sqlite3.connect(tmp_path / "lore.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "lore.db-wal").exists()
    assert store.size_bytes() >= (tmp_path / "lore.db").stat().st_size
    store.close()


def test_a_damaged_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "lore.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        SqliteStore(path)


@pytest.mark.parametrize(("version", "message"), [
    (-1, "says schema version -1, which no lore writes"),
    (0, "says schema version 0, but upgrading it failed"),
])
def test_a_store_whose_version_was_changed_says_so(tmp_path: Path, version: int,
                                                   message: str) -> None:
    SqliteStore(tmp_path / "lore.db").close()
    SqliteSchemaRecord().set(str(tmp_path / "lore.db"), version)
    with pytest.raises(SchemaVersionError, match=message) as error:
        SqliteStore(tmp_path / "lore.db")
    assert "move it aside" in str(error.value) and "damaged" not in str(error.value)


def test_a_newer_store_names_the_upgrade(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "lore.db").close()
    SqliteSchemaRecord().set(str(tmp_path / "lore.db"), 99)
    with pytest.raises(SchemaVersionError, match="newer lore.*pip install -U lore"):
        SqliteStore(tmp_path / "lore.db")


def test_asked_to_be_read_only_it_says_how_to_write(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "lore.db").close()
    with pytest.raises(StoreError, match="opened read-only.*opened again for writing"):
        SqliteStore(tmp_path / "lore.db", read_only=True).require_writable()


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
