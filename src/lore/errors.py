"""Every error lore raises on purpose, in one tree.

::

    LoreError
    ├── ConfigError              a setting or argument is invalid (names it and the valid choices)
    │   └── QueryError           an empty or oversized query, k out of range
    ├── IngestError              one input could not be read or parsed (the batch goes on)
    ├── StoreError               the knowledge base cannot be opened or written
    │   ├── SchemaVersionError   written by a newer lore
    │   └── EmbedderMismatch     embedded with another model than the one asked for
    ├── RetrievalError
    ├── ModelError               a model file cannot be assembled or loaded (damaged, unreadable)
    └── MissingDependency        (also an ImportError) an optional extra is not installed

Messages name the bad value and say how to fix it. The CLI prints them on one line.
"""

from __future__ import annotations

import errno
import os


class LoreError(Exception):
    """Base of every error lore raises on purpose."""


class ConfigError(LoreError):
    """A setting, option or argument is invalid."""


class QueryError(ConfigError):
    """A search request is invalid: empty or oversized query, k out of range, bad filter."""


class IngestError(LoreError):
    """One input could not be read or parsed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(LoreError):
    """The knowledge base cannot be opened or written."""


class SchemaVersionError(StoreError):
    """The store was written by a newer version of lore."""


class EmbedderMismatch(StoreError):
    """The store was embedded with a different model than the one requested."""


class RetrievalError(LoreError):
    """A search could not be carried out."""


class ModelError(LoreError):
    """A model file could not be assembled or loaded: damaged, truncated or unreadable."""


class GenerationError(LoreError):
    """The generator failed: a model server that is down, too slow, or answers garbage."""


class MissingDependency(LoreError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def os_error_reason(exc: OSError) -> str:
    """``permission denied (EACCES)``: the errno's description and its name."""
    if exc.errno is None:
        return str(exc)
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    return f"{(exc.strerror or os.strerror(exc.errno)).lower()} ({name})"
