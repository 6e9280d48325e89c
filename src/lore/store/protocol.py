"""The VectorIndex seam: nearest neighbours over integer chunk keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

VectorSource = Callable[[np.ndarray], np.ndarray]
"""Full vectors by key: given int64 keys, their float32 rows ``(len(keys), dim)`` in that order.

The store is the source (``SqliteStore.vectors_by_rowid``); compressed indexes use it to re-score
their shortlist exactly. Every key it is asked for is one the index holds; a key the source does
not know raises ``StoreError``."""


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


@runtime_checkable
class Rescoring(Protocol):
    """An index that keeps compressed codes and re-scores its shortlist from a ``VectorSource``.

    ``rescore_source`` is set by whoever owns the full vectors (``VectorFeed`` attaches the
    store); it is not saved with the index. Without it, search returns approximate scores.
    """

    rescore_source: VectorSource | None
