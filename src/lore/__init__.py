"""lore: a retrieval-augmented generation engine. Index documents and code; search them.

>>> import lore
>>> kb = lore.open("my-kb")
>>> kb.index(["notes/"])
>>> kb.search("how is the cache invalidated", k=5)
"""

from lore import _native  # noqa: F401  (first: one C++ runtime for usearch and llama.cpp)
from lore.api import KnowledgeBase, open
from lore.config import LoreConfig
from lore.errors import (
    ConfigError,
    EmbedderMismatch,
    IngestError,
    LoreError,
    MissingDependency,
    ModelError,
    QueryError,
    RetrievalError,
    SchemaVersionError,
    StoreError,
)
from lore.types import Chunk, Document, Filter, Hit, IndexReport, Skipped, Status

__all__ = [
    "Chunk",
    "ConfigError",
    "Document",
    "EmbedderMismatch",
    "Filter",
    "Hit",
    "IndexReport",
    "IngestError",
    "KnowledgeBase",
    "LoreConfig",
    "LoreError",
    "MissingDependency",
    "ModelError",
    "QueryError",
    "RetrievalError",
    "SchemaVersionError",
    "Skipped",
    "Status",
    "StoreError",
    "open",
]
