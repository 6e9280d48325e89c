"""Fixtures shared across the test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lore.testing.fakes import SCRIPTED, ScriptedGenerator


@pytest.fixture
def scripted() -> Iterator[ScriptedGenerator]:
    """The shared generator ``--model scripted`` (CLI and server) answers with, clean before
    and after. Like a local model, it is asked how likely the question is after each source
    (``generate.question_likelihood``): every source alike unless a test scripts otherwise."""
    SCRIPTED.reset()
    SCRIPTED.likelihood(-1.0)
    yield SCRIPTED
    SCRIPTED.reset()
