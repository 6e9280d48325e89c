"""lore: a retrieval-augmented generation engine. Index documents and code; search them;
answer questions from them with citations.

>>> import lore
>>> kb = lore.open("my-kb")
>>> kb.index(["notes/"])
>>> kb.search("how is the cache invalidated", k=5)
>>> kb.ask("how is the cache invalidated?").text
"""

from lore import _native  # noqa: F401  (first: one C++ runtime for usearch and llama.cpp)
from lore.api import KnowledgeBase, open
from lore.config import LoreConfig
from lore.errors import (
    ConfigError,
    EmbedderMismatch,
    GenerationError,
    IngestError,
    LoreError,
    MissingDependency,
    ModelError,
    QueryError,
    RetrievalError,
    SchemaVersionError,
    StoreError,
)
from lore.types import (
    Answer,
    Chunk,
    Citation,
    Document,
    Filter,
    Hit,
    IndexReport,
    Skipped,
    Source,
    Status,
    Timings,
)

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "EmbedderMismatch",
    "Filter",
    "GenerationError",
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
    "Source",
    "Status",
    "StoreError",
    "Timings",
    "open",
]
