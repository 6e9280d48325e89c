"""Fixtures shared across the test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lore.testing.fakes import SCRIPTED, ScriptedGenerator


@pytest.fixture
def scripted() -> Iterator[ScriptedGenerator]:
    """The shared generator ``--model scripted`` (CLI and server) answers with, clean before
    and after."""
    SCRIPTED.reset()
    yield SCRIPTED
    SCRIPTED.reset()
