"""Collections: named knowledge bases under one data directory.

Layout::

    <data_dir>/collections/<name>/kb/      the knowledge base (``lore.open``)
    <data_dir>/collections/<name>/files/   uploaded files, one folder per document id

Each collection has one reader (shared by request threads; ``KnowledgeBase.search`` is safe
to share) and one writer, used only by the ingestion worker, so searches run while
ingestion writes.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import lore
from lore.api import KnowledgeBase
from lore.config import LoreConfig
from lore.errors import ConfigError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = "1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"


class CollectionNotFound(LookupError):
    pass


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ConfigError(f"collection name {name!r} is not valid: use {NAME_RULE}")
    return name


class Collections:
    """Creates, opens, lists and deletes collections; knowledge bases open once each."""

    def __init__(self, data_dir: Path, config: LoreConfig) -> None:
        if config.store is not None:  # every collection would share one schema
            raise ConfigError("the server keeps each collection's documents in its data "
                              "folder; collections in PostgreSQL are not served yet: unset "
                              "LORE_STORE for lore serve")
        self.root = data_dir / "collections"
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = config
        self._readers: dict[str, KnowledgeBase] = {}
        self._writers: dict[str, KnowledgeBase] = {}
        self._retired: list[KnowledgeBase] = []
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "kb").is_dir())

    def exists(self, name: str) -> bool:
        return bool(NAME.fullmatch(name)) and (self.root / name / "kb").is_dir()

    def create(self, name: str, model: str | None = None) -> bool:
        """Create ``name`` (False when it already exists); ``model`` picks its embedder."""
        check_name(name)
        with self._lock:
            if self.exists(name):
                return False
            staging = self.root / f".new-{name}"
            shutil.rmtree(staging, ignore_errors=True)
            lore.open(staging / "kb", model=model, config=self.config).close()
            (staging / "files").mkdir()
            staging.rename(self.root / name)
            return True

    def reader(self, name: str) -> KnowledgeBase:
        """The shared knowledge base for searching and answering."""
        with self._lock:
            kb = self._readers.get(name)
            if kb is not None and kb.stale():
                # Another writer chose or switched the embedder: open a new reader. Searches
                # still running on the old one finish on it; it is closed at shutdown.
                self._retired.append(kb)
                kb = None
            if kb is None:
                kb = self._open(name)
                kb.batch_queries(self.config.serve.batch_window)
                self._readers[name] = kb
            return kb

    def writer(self, name: str) -> KnowledgeBase:
        """The knowledge base the ingestion worker writes through."""
        with self._lock:
            if name not in self._writers:
                self._writers[name] = self._open(name)
            return self._writers[name]

    def files_dir(self, name: str) -> Path:
        return self.root / name / "files"

    def delete(self, name: str) -> bool:
        with self._lock:
            if not self.exists(name):
                return False
            reader = self._readers.pop(name, None)
            if reader is not None:
                self._retired.append(reader)  # searches may still run on it, as in reader()
            writer = self._writers.pop(name, None)
            if writer is not None:
                writer.close()  # the jobs were cancelled first: nothing writes through it
            doomed = self.root / f".deleted-{name}"
            shutil.rmtree(doomed, ignore_errors=True)
            (self.root / name).rename(doomed)  # gone at once for readers; removed after
            shutil.rmtree(doomed, ignore_errors=True)
            return True

    def close(self) -> None:
        with self._lock:
            for kb in [*self._readers.values(), *self._writers.values(), *self._retired]:
                kb.close()
            self._retired.clear()
            self._readers.clear()
            self._writers.clear()

    def _open(self, name: str) -> KnowledgeBase:
        if not self.exists(name):
            raise CollectionNotFound(name)
        return lore.open(self.root / name / "kb", config=self.config)
