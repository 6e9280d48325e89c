"""Collections: named knowledge bases, each with the files uploaded to it.

A server alone keeps everything in its data folder (``FolderCatalog``)::

    <data_dir>/collections/<name>/kb/      the knowledge base (``lore.open``)
    <data_dir>/collections/<name>/files/   uploaded files, one folder per document id

Replicas that share a PostgreSQL store (``DatabaseCatalog``) keep the list of collections
and the uploaded bytes in the server's tables, and each collection's documents in a schema of
its own. Each replica's data folder then holds only what it derives and may lose:
``collections/<schema>/kb`` (the in-memory indexes' saved copies) and ``collections/<schema>
/files`` (copies of the uploads it indexed). The store names an upload
``/collections/<name>/files/<document id>/<file>`` whichever replica indexed it.

Each collection has one reader (shared by request threads; ``KnowledgeBase.search`` is safe
to share) and one writer, used only by the ingestion worker, so searches run while
ingestion writes.
"""

from __future__ import annotations

import functools
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import lore
from lore.api import KnowledgeBase
from lore.config import LoreConfig
from lore.errors import ConfigError
from lore.pipeline import StoredRoot
from lore.serve.control import ControlDb, create_tables

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = "1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"


class CollectionNotFound(LookupError):
    pass


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ConfigError(f"collection name {name!r} is not valid: use {NAME_RULE}")
    return name


@dataclass(frozen=True, slots=True)
class Place:
    """Where one collection lives, as this server sees it."""

    name: str
    kb_dir: Path
    files_dir: Path
    """This server's copies of the uploaded files."""
    stored_root: str
    """What the store calls ``files_dir``."""
    store: str | None
    """The PostgreSQL URL of its documents; None for the knowledge base's own file."""
    model: str | None
    """The embedder asked for when it was created (None: the configured one)."""

    @property
    def naming(self) -> StoredRoot | None:
        """How indexing names the uploads: None when the store knows them by their path."""
        local = resolved(self.files_dir)
        return None if local == self.stored_root else StoredRoot(local, self.stored_root)

    def upload(self, doc_id: str, file_name: str) -> Path:
        return self.files_dir / doc_id / file_name

    def stored_upload(self, doc_id: str, file_name: str) -> str:
        return f"{self.stored_root}/{doc_id}/{file_name}"


class Catalog(Protocol):
    """Which collections exist and where their knowledge bases and uploads are."""

    def names(self) -> list[str]: ...

    def place(self, name: str) -> Place | None: ...

    def create(self, name: str, model: str | None) -> bool:
        """Make ``name``; False when it exists."""

    def delete(self, name: str) -> bool:
        """Remove ``name`` with everything in it; False when there was none."""

    def put_file(self, place: Place, doc_id: str, file_name: str, data: bytes) -> None:
        """Keep an upload; it replaces one of the same document."""

    def local_file(self, place: Place, doc_id: str, file_name: str) -> Path:
        """The upload as a file on this machine, to parse."""

    def drop_file(self, place: Place, doc_id: str) -> None: ...


class Collections:
    """Creates, opens, lists and deletes collections; knowledge bases open once each."""

    def __init__(self, data_dir: Path, config: LoreConfig, db: ControlDb | None = None) -> None:
        root = data_dir / "collections"
        root.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.catalog: Catalog = (DatabaseCatalog(root, config, db) if db is not None
                                 else FolderCatalog(root, config))
        self._readers: dict[Path, KnowledgeBase] = {}
        self._writers: dict[Path, KnowledgeBase] = {}
        self._retired: list[KnowledgeBase] = []
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return self.catalog.names()

    def exists(self, name: str) -> bool:
        return bool(NAME.fullmatch(name)) and self.catalog.place(name) is not None

    def place(self, name: str) -> Place:
        found = self.catalog.place(name) if NAME.fullmatch(name) else None
        if found is None:
            raise CollectionNotFound(name)
        return found

    def create(self, name: str, model: str | None = None) -> bool:
        """Create ``name`` (False when it already exists); ``model`` picks its embedder."""
        check_name(name)
        with self._lock:
            return self.catalog.create(name, model)

    def reader(self, name: str) -> KnowledgeBase:
        """The shared knowledge base for searching and answering."""
        place = self.place(name)
        with self._lock:
            kb = self._readers.get(place.kb_dir)
            if kb is not None and kb.stale():
                # Another writer chose or switched the embedder: open a new reader. Searches
                # still running on the old one finish on it; it is closed at shutdown.
                self._retired.append(kb)
                kb = None
            if kb is None:
                kb = self._open(place)
                kb.batch_queries(self.config.serve.batch_window)
                self._readers[place.kb_dir] = kb
            return kb

    def writer(self, name: str) -> KnowledgeBase:
        """The knowledge base the ingestion worker writes through."""
        place = self.place(name)
        with self._lock:
            if place.kb_dir not in self._writers:
                self._writers[place.kb_dir] = self._open(place)
            return self._writers[place.kb_dir]

    def delete(self, name: str) -> bool:
        place = self.catalog.place(name) if NAME.fullmatch(name) else None
        if place is None:
            return False
        with self._lock:
            reader = self._readers.pop(place.kb_dir, None)
            if reader is not None:
                self._retired.append(reader)  # searches may still run on it, as in reader()
            writer = self._writers.pop(place.kb_dir, None)
            if writer is not None:
                writer.close()  # the jobs were cancelled first: nothing writes through it
            return self.catalog.delete(name)

    def close(self) -> None:
        with self._lock:
            for kb in [*self._readers.values(), *self._writers.values(), *self._retired]:
                kb.close()
            self._retired.clear()
            self._readers.clear()
            self._writers.clear()

    def _open(self, place: Place) -> KnowledgeBase:
        return lore.open(place.kb_dir, model=place.model,
                         config=replace(self.config, store=place.store))


class FolderCatalog:
    """Collections as folders of one server's data directory."""

    def __init__(self, root: Path, config: LoreConfig) -> None:
        if config.store is not None:  # every collection would share the store's schema
            raise ValueError("collections in folders keep their documents there: "
                             "config.store must be None")
        self.root = root
        self.config = config

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "kb").is_dir())

    def place(self, name: str) -> Place | None:
        folder = self.root / name
        if not (folder / "kb").is_dir():
            return None
        return Place(name, folder / "kb", folder / "files", resolved(folder / "files"), None,
                     None)

    def create(self, name: str, model: str | None) -> bool:
        if self.place(name) is not None:
            return False
        staging = self.root / f".new-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        lore.open(staging / "kb", model=model, config=self.config).close()
        (staging / "files").mkdir()
        staging.rename(self.root / name)
        return True

    def delete(self, name: str) -> bool:
        if self.place(name) is None:
            return False
        doomed = self.root / f".deleted-{name}"
        shutil.rmtree(doomed, ignore_errors=True)
        (self.root / name).rename(doomed)  # gone at once for readers; removed after
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def put_file(self, place: Place, doc_id: str, file_name: str, data: bytes) -> None:
        _write_whole(place.upload(doc_id, file_name), data)

    def local_file(self, place: Place, doc_id: str, file_name: str) -> Path:
        return place.upload(doc_id, file_name)

    def drop_file(self, place: Place, doc_id: str) -> None:
        shutil.rmtree(place.files_dir / doc_id, ignore_errors=True)


_DATABASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY, schema TEXT NOT NULL UNIQUE, model TEXT,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    collection TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, data {blob} NOT NULL,
    PRIMARY KEY (collection, id)
)
"""


class DatabaseCatalog:
    """Collections listed in the server's tables, each in a PostgreSQL schema of its own."""

    def __init__(self, root: Path, config: LoreConfig, db: ControlDb) -> None:
        from lore.store.postgres import split_location

        if config.store is None:
            raise ValueError("collections in a database need config.store, a PostgreSQL URL")
        self.root = root
        self.config = config
        self.store = config.store
        self.prefix = split_location(config.store)[1][:40] + "_c"
        self._db = db
        create_tables(db, _DATABASE_SCHEMA.format(blob=db.blob))

    def names(self) -> list[str]:
        return [row[0] for row in self._db.all("SELECT name FROM collections ORDER BY name")]

    def place(self, name: str) -> Place | None:
        row = self._db.one("SELECT schema, model FROM collections WHERE name = ?", (name,))
        return None if row is None else self._place(name, row[0], row[1])

    def create(self, name: str, model: str | None) -> bool:
        if self.place(name) is not None:
            return False
        place = self._place(name, f"{self.prefix}{secrets.token_hex(6)}", model)
        schema = _schema_of(place)
        try:  # the schema exists before the row that lets other servers find it
            lore.open(place.kb_dir, model=model, config=replace(self.config, store=place.store)
                      ).close()
        except BaseException:
            self._drop(schema)
            raise
        added = self._db.execute("INSERT INTO collections VALUES (?, ?, ?, ?) ON CONFLICT "
                                 "(name) DO NOTHING", (name, schema, model, time.time()))
        if added == 0:  # another server made it first
            self._drop(schema)
        return added == 1

    def delete(self, name: str) -> bool:
        with self._db.transaction() as tx:
            row = tx.one("DELETE FROM collections WHERE name = ? RETURNING schema", (name,))
            if row is None:
                return False
            tx.execute("DELETE FROM uploads WHERE collection = ?", (name,))
        self._drop(row[0])
        return True

    def put_file(self, place: Place, doc_id: str, file_name: str, data: bytes) -> None:
        self._db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?) ON CONFLICT (collection, id) "
                         "DO UPDATE SET name = excluded.name, data = excluded.data",
                         (place.name, doc_id, file_name, data))

    def local_file(self, place: Place, doc_id: str, file_name: str) -> Path:
        path = place.upload(doc_id, file_name)
        row = self._db.one("SELECT data FROM uploads WHERE collection = ? AND id = ?",
                           (place.name, doc_id))
        if row is None:
            raise FileNotFoundError(f"the upload {doc_id}/{file_name} is no longer stored")
        data = bytes(row[0])
        if not path.is_file() or path.read_bytes() != data:
            _write_whole(path, data)
        return path

    def drop_file(self, place: Place, doc_id: str) -> None:
        self._db.execute("DELETE FROM uploads WHERE collection = ? AND id = ?",
                         (place.name, doc_id))
        shutil.rmtree(place.files_dir / doc_id, ignore_errors=True)

    def _place(self, name: str, schema: str, model: str | None) -> Place:
        from lore.store.postgres import with_schema

        folder = self.root / schema
        return Place(name, folder / "kb", folder / "files", f"/collections/{name}/files",
                     with_schema(self.store, schema), model)

    def _drop(self, schema: str) -> None:
        self._db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        shutil.rmtree(self.root / schema, ignore_errors=True)


@functools.lru_cache(maxsize=1024)
def resolved(folder: Path) -> str:
    """``folder`` resolved, once: resolving costs a system call per path part, and a
    collection's place is looked up on every request."""
    return str(folder.resolve())


def _schema_of(place: Place) -> str:
    return place.kb_dir.parent.name


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` so that it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / ".upload"
    staging.write_bytes(data)
    staging.rename(path)
