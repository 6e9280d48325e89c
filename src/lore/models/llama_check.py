"""Prove that the installed llama.cpp runs here before lore relies on it: ``check_runs``.

A llama.cpp compiled for another CPU, or natively for one that lists instructions it cannot
execute (AMX in some virtual machines), dies with SIGILL on the first prompt long enough to
be evaluated as a batch, and takes the process with it without a word. ``smoke_test``
evaluates a real prompt in a child process (``llama_child.py``) and reports how it ended.
``check_runs`` caches a passing result per model file, llama.cpp build and CPU, so after the
first time the check costs a lookup; a failure is never cached, so a rebuild is seen at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lore.errors import ModelError
from lore.models.child import ChildResult, run_json
from lore.models.cpu import cpu_flags, cpu_model, read_cpuinfo
from lore.models.files import models_cache_dir

CHILD = Path(__file__).with_name("llama_child.py")
REBUILD = ("reinstall llama-cpp-python for the instruction sets this CPU really runs: "
           "`bash scripts/install` in lore's source tree (it tries each), or, for any x86-64-v3 "
           "CPU, `CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --force-reinstall --no-cache-dir "
           "--no-deps llama-cpp-python`")
"""The fix for a build that cannot run here."""
SMOKE_PROMPT_TOKENS = 320
"""Long enough to be evaluated as a batch through the matrix kernels a crash hides in."""

_CAUSES: dict[str, tuple[str, str]] = {
    "SIGILL": ("llama.cpp executed an instruction this CPU cannot run: it was built for "
               "another CPU, or natively for one that lists instructions (such as AMX) that "
               "it cannot execute", REBUILD),
    "SIGSEGV": ("llama.cpp crashed reading the model: the file may be damaged or truncated",
                "run `lore doctor`; reinstall the model's wheels or replace the file"),
    "SIGBUS": ("llama.cpp could not read the memory-mapped model: the file shrank or its "
               "disk went away", "reinstall the model's wheels or replace the file"),
    "SIGKILL": ("the process was killed, most often by the kernel for lack of memory",
                "free memory, or use a smaller model (--model smollm2)"),
}


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """How a prompt evaluated and decoded in a child process went."""

    ok: bool
    detail: str
    """Speeds when it ran; the cause when it did not."""
    fix: str = ""
    signal: str | None = None
    prompt_tokens: int = 0
    prefill_tokens_per_s: float = 0.0
    decode_tokens_per_s: float = 0.0
    system_info: str = ""
    """llama.cpp's build features as it prints them (``AVX2 = 1 | ...``)."""


def smoke_test(model: Path, *, prompt_tokens: int = SMOKE_PROMPT_TOKENS, decode_tokens: int = 8,
               threads: int = 1, timeout: float = 300.0, env: Mapping[str, str] | None = None
               ) -> SmokeResult:
    """Evaluate a ``prompt_tokens`` prompt with ``model`` and decode ``decode_tokens``, in a
    child process; a signal, an error or a time-out becomes a failed result with its fix.

    ``env`` replaces the child's environment (a benchmark points ``PYTHONPATH`` at another
    llama.cpp build with it).
    """
    argv = [sys.executable, "-P", str(CHILD), "smoke", str(model), "--prompt",
            str(prompt_tokens), "--decode", str(decode_tokens), "--threads", str(threads),
            "--ctx", str(prompt_tokens + decode_tokens + 16)]
    done = run_json(argv, timeout=timeout, env=env)
    if done.value is None:
        return _failure(model.name, done)
    value = done.value
    prefill = value["prompt_tokens"] / max(value["prefill_s"], 1e-9)
    decode = value["decode_tokens"] / max(value["decode_s"], 1e-9)
    detail = (f"{value['prompt_tokens']} prompt tokens at {prefill:.0f}/s, "
              f"{value['decode_tokens']} decoded at {decode:.1f}/s ({threads} thread"
              f"{'s' if threads > 1 else ''})")
    return SmokeResult(True, detail, prompt_tokens=value["prompt_tokens"],
                       prefill_tokens_per_s=prefill, decode_tokens_per_s=decode,
                       system_info=value["system_info"])


def _failure(what: str, done: ChildResult) -> SmokeResult:
    if done.signal is not None:
        cause, fix = _CAUSES.get(done.signal, (f"llama.cpp died of {done.signal}",
                                               "run `lore doctor` and report its output"))
        return SmokeResult(False, f"{done.signal}: {cause}", fix, done.signal)
    if "ModuleNotFoundError" in done.stderr and "llama_cpp" in done.stderr:
        return SmokeResult(False, "llama-cpp-python is not installed",
                           "pip install llama-cpp-python (see README)")
    return SmokeResult(False, f"llama.cpp could not run {what}: {done.error}",
                       "check that the file is a GGUF model (`lore doctor`)")


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """The installed llama-cpp-python and the CPU features its llama.cpp was compiled for."""

    version: str
    features: dict[str, bool]
    """llama.cpp's names (``AVX2``, ``AVX512``, ``AMX_INT8``...) to whether the build uses it."""
    system_info: str


def build_info(timeout: float = 60.0) -> BuildInfo | SmokeResult:
    """The build's features, read in a child (a native build may crash on import);
    a failed ``SmokeResult`` when that child fails."""
    done = run_json([sys.executable, "-P", str(CHILD), "info"], timeout=timeout)
    if done.value is None:
        return _failure("its system info", done)
    info = str(done.value["system_info"])
    return BuildInfo(str(done.value["version"]), built_features(info), info)


def built_features(system_info: str) -> dict[str, bool]:
    """``{"AVX2": True, ...}`` from llama.cpp's ``CPU : SSE3 = 1 | AVX2 = 1 | ...``."""
    return {name: value == "1" for name, value in re.findall(r"\b([A-Z0-9_]+) = (\d)",
                                                               system_info)}


def checks_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/lore/checks``, else ``~/.cache/lore/checks``: beside the models."""
    return models_cache_dir(environ).with_name("checks")


_passed: set[str] = set()
"""Cache files found or written by this process: later checks skip even the file lookup."""
_passed_lock = threading.Lock()


def check_runs(model: Path, cache_dir: Path | None = None) -> SmokeResult | None:
    """Raise a ``ModelError`` naming the cause and the fix unless ``model`` has been seen to
    run with this llama.cpp build on this CPU. Returns the smoke test's result when one had
    to run, ``None`` when a passing one was remembered."""
    cache = (cache_dir or checks_cache_dir(os.environ)) / f"{check_key(model)}.json"
    if str(cache) in _passed:
        return None
    result = None
    if not cache.is_file():
        result = smoke_test(model)
        if not result.ok:
            raise ModelError(f"{model.name} cannot run here: {result.detail}; fix: "
                             f"{result.fix}")
        remember_pass(cache, model, result)
    with _passed_lock:
        _passed.add(str(cache))
    return result


def remember_pass(cache: Path, model: Path, result: SmokeResult) -> None:
    """Record a passing smoke test; a cache that cannot be written only costs a rerun."""
    record = {"model": str(model), "detail": result.detail, "system_info": result.system_info}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False,
                                         suffix=".tmp") as handle:
            json.dump(record, handle)
        os.replace(handle.name, cache)
    except OSError:
        pass


def check_key(model: Path) -> str:
    """What a passing check depends on: the model file, the llama.cpp libraries, the CPU."""
    cpuinfo = read_cpuinfo()
    parts: dict[str, Any] = {"model": _file_identity(model.resolve()),
                             "build": [_file_identity(path) for path in _llama_libraries()],
                             "cpu": [cpu_model(cpuinfo), sorted(cpu_flags(cpuinfo))]}
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def _file_identity(path: Path) -> list[Any]:
    try:
        stat = path.stat()
    except OSError:
        return [str(path)]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _llama_libraries() -> list[Path]:
    """llama-cpp-python's shared libraries (found without importing it)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(root.glob("lib/*.so*")) + sorted(root.glob("lib/*.dylib"))
