"""The VectorIndex seam: nearest neighbours over integer chunk keys."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    """An exact or approximate nearest-neighbour index over unit vectors, keyed by int64.

    Contract (checked by ``lore.testing.contracts.VectorIndexContract``):

    - Keys are non-negative int64 (the store's chunk rowids); vectors are float32 rows of
      length ``dim``, unit-normalised by the caller.
    - ``add`` inserts or replaces vectors under ``keys``; ``remove`` drops keys (unknown keys
      are ignored). Scores are inner products, higher is closer.
    - ``search`` returns ``(keys, scores)`` best first, at most ``k`` of each; when ``allowed``
      is given only those keys may be returned (filtered search).
    - ``save(dir)`` writes ``params.json`` plus data files; ``load(dir)`` restores an equal index.
      An index is derived data: it can always be rebuilt from the store.
    """

    kind: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, keys: np.ndarray) -> None: ...

    def search(self, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: Path) -> None: ...
