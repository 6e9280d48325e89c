"""The ANN index kept in step with the store: loaded, caught up, saved, rebuilt.

The index is derived data. Each write to the store appends to a change log in the same
transaction; a saved index records the last change it holds (``seq``). Opening the index loads
the newest saved copy and replays the log past its ``seq``; a missing, corrupt or too-old copy
is rebuilt from the store. Saves go to a fresh directory and a ``CURRENT`` pointer is replaced
atomically, so a reader never sees a half-written index.

Layout::

    index/CURRENT              name of the live directory
    index/<seq>-<kind>/        the backend's params.json and data files, plus state.json
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lore.config import IndexConfig
from lore.errors import StoreError
from lore.store.ann import choose_kind, create_index, load_index
from lore.store.protocol import VectorIndex
from lore.store.sqlite import SqliteStore

_POINTER = "CURRENT"
_STATE = "state.json"


class DerivedIndex:
    """Keeps one VectorIndex in step with a SqliteStore.

    >>> derived = DerivedIndex(store, kb_dir / "index", dim=384, config=IndexConfig())
    >>> keys, scores = derived.current().search(query_vector, k=10)
    """

    def __init__(self, store: SqliteStore, directory: Path | None, dim: int,
                 config: IndexConfig) -> None:
        self._store = store
        self._directory = directory
        self._dim = dim
        self._config = config
        self._index: VectorIndex | None = None
        self._seq = -1

    @property
    def kind(self) -> str:
        return self._index.kind if self._index is not None else "none"

    def current(self) -> VectorIndex:
        """The index, caught up with every committed change."""
        if self._index is None or self._store.last_change() != self._seq:
            self._refresh()
        assert self._index is not None  # _refresh always sets it
        return self._index

    def size_bytes(self) -> int:
        live = self._live_directory()
        if live is None or not live.is_dir():
            return 0
        return sum(p.stat().st_size for p in live.iterdir())

    def save(self) -> None:
        """Write the caught-up index (rebuilt if its kind no longer fits the size)."""
        if self._directory is None:
            return
        index = self.current()
        wanted = choose_kind(len(index), self._config)
        if wanted != index.kind:
            self._rebuild(wanted)
            index = self.current()
        self._directory.mkdir(parents=True, exist_ok=True)
        name = f"{self._seq}-{index.kind}"
        target = self._directory / name
        if not target.exists():
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self._directory))
            index.save(staging)
            (staging / _STATE).write_text(json.dumps({"seq": self._seq, "dim": self._dim}))
            os.replace(staging, target)
        _write_atomically(self._directory / _POINTER, name)
        self._store.trim_changes(self._seq)
        self._remove_stale(keep=name)

    def _refresh(self) -> None:
        if self._index is None or self._seq < self._changes_floor():
            self._load_or_rebuild()
        self._replay()

    def _changes_floor(self) -> int:
        return int(self._store.get_meta("changes_floor") or 0)

    def _load_or_rebuild(self) -> None:
        loaded = self._load_saved()
        if loaded is not None and loaded[1] >= self._changes_floor():
            self._index, self._seq = loaded
            return
        self._rebuild(None)

    def _load_saved(self) -> tuple[VectorIndex, int] | None:
        live = self._live_directory()
        if live is None:
            return None
        try:
            state = json.loads((live / _STATE).read_text())
            index = load_index(live)
        except (OSError, ValueError, StoreError):
            return None  # a damaged copy is only a cache: rebuild
        if index.dim != self._dim or int(state.get("dim", -1)) != self._dim:
            return None
        return index, int(state["seq"])

    def _live_directory(self) -> Path | None:
        if self._directory is None:
            return None
        try:
            name = (self._directory / _POINTER).read_text().strip()
        except OSError:
            return None
        return self._directory / name

    def _rebuild(self, kind: str | None) -> None:
        # Read the sequence number first: changes committed during the read are replayed later.
        seq = self._store.last_change()
        keys, vectors = self._store.chunk_vectors(dim=self._dim)
        index = create_index(kind or choose_kind(len(keys), self._config), self._dim)
        if len(keys):
            index.add(keys, vectors)
        self._index, self._seq = index, seq

    def _replay(self) -> None:
        assert self._index is not None
        changes = self._store.changes_since(self._seq)
        if not changes:
            return
        final: dict[int, bool] = {}
        for _, chunk, added in changes:
            final[chunk] = added
        removed = np.array([c for c, added in final.items() if not added], dtype=np.int64)
        if removed.size:
            self._index.remove(removed)
        keys, vectors = self._store.chunk_vectors([c for c, added in final.items() if added],
                                                  dim=self._dim)
        if len(keys):
            self._index.add(keys, vectors)
        self._seq = changes[-1][0]

    def _remove_stale(self, keep: str) -> None:
        assert self._directory is not None
        for entry in self._directory.iterdir():
            if entry.name not in (keep, _POINTER) and entry.is_dir():
                # Readers that mapped an old copy keep their open files; Linux frees them later.
                shutil.rmtree(entry, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
