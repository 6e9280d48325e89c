"""A sample of the prose a set of paths would index: what the embedder choice judges."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from pathlib import Path

from lore.config import IngestConfig
from lore.errors import IngestError
from lore.ingest.parse import CODE_FORMATS, parse_file
from lore.ingest.walk import discover

SAMPLE_FILES = 64
SAMPLE_CHARS = 400_000
"""Letters beyond this are not read: a large corpus is judged by its first part."""


def sample_prose(paths: Sequence[Path], config: IngestConfig) -> str:
    """Text of the prose documents in the first files ``paths`` would index, up to a budget."""
    parts: list[str] = []
    size = 0
    for path in islice(discover([p.expanduser() for p in paths], config), SAMPLE_FILES):
        try:
            documents = parse_file(path.resolve(), config.max_file_bytes).documents
        except IngestError:
            continue
        for document in documents:
            if document.format in CODE_FORMATS:
                continue
            parts.append(document.text[:SAMPLE_CHARS - size])
            size += len(parts[-1])
            if size >= SAMPLE_CHARS:
                return "\n".join(parts)
    return "\n".join(parts)
