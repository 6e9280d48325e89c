"""The vector-index family: a registry of backends, a factory, a loader and the size rule.

``exact`` (``flat.ExactIndex``) scans every vector; ``hnsw`` (``hnsw.HnswIndex``) walks a graph.
Both save to a directory as ``params.json`` plus data files; ``params.json`` names the kind, so
``load_index`` needs no other hint. An index is derived data: when ``load_index`` raises
``StoreError`` the caller rebuilds it from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lore.config import IndexConfig
from lore.errors import ConfigError, StoreError
from lore.store.flat import ExactIndex, read_params
from lore.store.hnsw import HnswIndex
from lore.store.protocol import VectorIndex

ANN_BACKENDS: dict[str, Callable[..., VectorIndex]] = {"exact": ExactIndex, "hnsw": HnswIndex}
"""Constructors by kind; each takes ``dim`` and its own keyword settings."""

_LOADERS: dict[str, Callable[[Path, bool], VectorIndex]] = {
    "exact": ExactIndex.load,
    "hnsw": HnswIndex.load,
}

HYSTERESIS = 0.8
"""An HNSW index is kept until the collection shrinks below this share of the threshold, so a
collection hovering around it is not rebuilt back and forth."""


def create_index(kind: str, dim: int) -> VectorIndex:
    """A new, empty index of ``kind`` (a key of ``ANN_BACKENDS``) for ``dim``-dimensional vectors.

    >>> create_index("exact", dim=384).kind
    'exact'
    """
    try:
        backend = ANN_BACKENDS[kind]
    except KeyError:
        raise ConfigError(f"unknown vector index {kind!r}; choose from "
                          f"{', '.join(sorted(ANN_BACKENDS))}") from None
    return backend(dim=dim)


def load_index(directory: Path, mmap: bool = False) -> VectorIndex:
    """Open the index saved in ``directory``, whatever its kind.

    Args:
        directory: a folder written by an index's ``save``.
        mmap: memory-map the data files instead of reading them (copied on first change).

    Raises:
        StoreError: the folder holds no index, or a damaged one; rebuild it from the store.
    """
    kind = read_params(directory)["kind"]
    try:
        loader = _LOADERS[kind]
    except KeyError:
        raise StoreError(f"{directory} holds an index of unknown kind {kind!r} (this lore reads "
                         f"{', '.join(sorted(_LOADERS))}); rebuild the index") from None
    return loader(directory, mmap)


def choose_kind(n_vectors: int, config: IndexConfig, current: str | None = None) -> str:
    """Which kind of index suits ``n_vectors``: what ``config.ann`` forces, else by size.

    ``auto`` gives ``exact`` below ``config.hnsw_threshold`` vectors and ``hnsw`` at or above.
    Pass the ``current`` kind to keep an existing HNSW graph while the collection stays above
    ``HYSTERESIS`` x threshold.

    >>> choose_kind(1_000, IndexConfig())
    'exact'
    """
    if config.ann in ("exact", "hnsw"):
        return config.ann
    if config.ann != "auto":
        raise ConfigError(f"index.ann is {config.ann!r}; choose from auto, exact, hnsw")
    threshold = config.hnsw_threshold
    if current == "hnsw" and n_vectors >= HYSTERESIS * threshold:
        return "hnsw"
    return "hnsw" if n_vectors >= threshold else "exact"
