"""``lore doctor``: what a user runs when something is wrong.

Each check reports ok, warning or error, with the fix. Everything that runs native code
(instruction probes, llama.cpp, the embedders' forward pass) runs in a child process, so a
build that dies of a signal is reported as an error that names the signal, the cause and the
fix, and never takes the doctor down with it. A smoke test that passes is remembered by the
same cache that guards ``lore ask`` (``lore.models.llama_check``).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from lore.config import LoreConfig
from lore.embed.registry import EMBEDDERS
from lore.errors import LoreError
from lore.generate.registry import REMOTE_PREFIX
from lore.models.child import run_json
from lore.models.cpu import FeatureCheck, cpu_model, executable_features, read_cpuinfo, unrunnable
from lore.models.dtype import cpu_has_native_bf16
from lore.models.gguf import DEFAULT_GGUF, MODELS, resolve_gguf
from lore.models.llama_check import (
    REBUILD,
    BuildInfo,
    SmokeResult,
    build_info,
    check_key,
    checks_cache_dir,
    remember_pass,
    smoke_test,
)

Status = Literal["ok", "warning", "error"]
INSTALL = "bash scripts/install (or pip install -e . in lore's source tree)"
PACKAGES = ("lore", "torch", "numpy", "transformers", "tokenizers", "fastapi")
"""Packages whose versions a bug report needs; all are required."""
EXTRAS = {"llama-cpp-python": "local", "usearch": "ann", "faiss-cpu": "ann",
          "matplotlib": "plots"}
"""Optional packages, by the extra that installs them (``pip install 'lore[EXTRA]'``)."""
NO_LLAMA = ("not installed: lore answers only through an OpenAI-compatible server "
            "(LORE_GENERATOR=openai:http://host:port/v1/<model>)")

# Embeds one query in a child with the dtype the user's settings choose (bfloat16 where the
# CPU lists native instructions for it), so a crash in that path is caught too.
_EMBED_CHILD = """
import json, os, sys
from dataclasses import replace
from lore.config import LoreConfig
from lore.embed.registry import EMBEDDERS
from lore.embed.registry import create_embedder
from lore.models.dtype import resolve_dtype
from lore.errors import LoreError
config = replace(LoreConfig.from_env(os.environ).embed, model=sys.argv[1])
try:
    embedder = create_embedder(config)
    vector = embedder.embed_query("how are expired cache entries removed?")
except LoreError as error:
    print(json.dumps({"error": str(error)}))
    sys.exit()
print(json.dumps({"dim": int(vector.shape[0]), "dtype": resolve_dtype(config.dtype),
                  "path": str(embedder.model_dir)}))
"""


@dataclass(frozen=True, slots=True)
class Check:
    """One finding of ``lore doctor``."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def run_checks(environ: Mapping[str, str] = os.environ) -> Iterator[Check]:
    """Every check, in order, each yielded as soon as it is done."""
    yield check_python()
    yield check_packages()
    for name, entry in EMBEDDERS.items():
        if entry.wheel is not None:
            yield check_embedder(name, entry.wheel, environ)
    missing = check_llama_installed()
    if missing is not None:  # answers go through a server: no build or model to check
        yield missing
        return
    cpu = executable_features()
    build = build_info()
    yield check_llama_build(build, cpu)
    for name in MODELS:
        yield check_local_model(name, environ)
    configured = LoreConfig.from_env(environ).generate.model
    if configured not in MODELS and not configured.startswith(REMOTE_PREFIX):
        yield check_configured_model(configured, environ)


def check_llama_installed() -> Check | None:
    """A warning naming the ``local`` extra when llama.cpp is not installed, else None."""
    if importlib.util.find_spec("llama_cpp") is not None:
        return None
    return Check("llama.cpp", "warning", NO_LLAMA, "pip install 'lore[local]' (in lore's "
                 "source tree: bash scripts/install, which builds it for this CPU)")


def check_python() -> Check:
    """Which interpreter runs lore (pip refuses to install it on Pythons older than 3.11)."""
    return Check("python", "ok", f"Python {platform.python_version()} at {sys.executable}, "
                 f"{platform.system()} {platform.machine()}")


def check_packages() -> Check:
    versions = [f"{name} {metadata.version(name)}" for name in (*PACKAGES, *EXTRAS)
                if _installed(name)]
    missing = [name for name in PACKAGES if not _installed(name)]
    if missing:
        return Check("packages", "error", f"not installed: {', '.join(missing)}", INSTALL)
    extras = sorted({extra for name, extra in EXTRAS.items() if not _installed(name)})
    detail = ", ".join(versions)
    if extras:
        detail += f"; extras not installed: {', '.join(extras)}"
    return Check("packages", "ok", detail)


def check_embedder(name: str, wheel: str, environ: Mapping[str, str]) -> Check:
    """Embed one query with ``name`` in a child: where its files are, its dtype, no crash."""
    label = f"embedder {name}"
    done = run_json([sys.executable, "-c", _EMBED_CHILD, name], timeout=600, env=environ)
    if done.value is None:
        fix = ("set LORE_DTYPE=float32" if done.signal == "SIGILL" else
               f"reinstall it: pip install --no-deps --force-reinstall {wheel}")
        return Check(label, "error", f"embedding one query failed: {done.error}", fix)
    if "error" in done.value:
        status: Status = "warning" if name != "minilm" else "error"
        return Check(label, status, done.value["error"],
                     f"pip install --no-deps {wheel}")
    value = done.value
    return Check(label, "ok", f"{value['dim']}-d vectors in {value['dtype']} "
                 f"({_dtype_reason(value['dtype'])}); files in {value['path']}")


def _dtype_reason(dtype: str) -> str:
    native = cpu_has_native_bf16(read_cpuinfo())
    if dtype == "bfloat16":
        return ("the CPU has native bfloat16 instructions" if native else
                "LORE_DTYPE asks for it, though this CPU emulates it slowly")
    return ("LORE_DTYPE asks for it" if native else
            "no native bfloat16 instructions on this CPU, so bfloat16 would be slower")


def check_llama_build(build: BuildInfo | SmokeResult, cpu: list[FeatureCheck]) -> Check:
    """The features llama.cpp was compiled for against those this machine really executes."""
    if isinstance(build, SmokeResult):
        return Check("llama.cpp build", "error", build.detail, build.fix or REBUILD)
    used = sorted(name for name, on in build.features.items() if on and
                  name in {check.name for check in cpu})
    runs = [check.name for check in cpu if check.executes]
    detail = (f"llama-cpp-python {build.version} built for {' '.join(used) or 'no SIMD'}; "
              f"this CPU ({cpu_model(read_cpuinfo())}) executes {' '.join(runs) or 'none'}")
    fakes = [f"{check.name} ({check.detail})" for check in cpu
             if check.listed and check.executes is False]
    if fakes:
        detail += f"; it lists but cannot execute {', '.join(fakes)}"
    bad = unrunnable(build.features, cpu)
    if bad:
        return Check("llama.cpp build", "error",
                     f"{detail}. The build uses {', '.join(bad)}, which this CPU cannot run: "
                     "every prompt of more than a few tokens would crash", REBUILD)
    return Check("llama.cpp build", "ok", detail)


def check_local_model(name: str, environ: Mapping[str, str]) -> Check:
    """Find the model's file; if it is there, evaluate a prompt with it in a child."""
    label = f"model {name}"
    model = MODELS[name]
    if not any(_installed(distribution) for distribution in model.distributions):
        if name == DEFAULT_GGUF:
            return Check(label, "warning", "not installed: lore ask answers with it",
                         model.install_command())
        return Check(label, "ok", f"not installed (optional: {model.install_command()})")
    try:
        path = resolve_gguf(name)
    except LoreError as error:  # some pieces missing, or a damaged install
        return Check(label, "error", str(error), model.install_command() + " --force-reinstall")
    return smoke_check(label, path, environ)


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def check_configured_model(spec: str, environ: Mapping[str, str]) -> Check:
    """The answering model LORE_GENERATOR names, when it is a file rather than a shipped one."""
    label = f"model {spec}"
    try:
        path = resolve_gguf(spec)
    except LoreError as error:
        return Check(label, "error", str(error), "set LORE_GENERATOR to a GGUF model file or "
                     f"to one of {', '.join(MODELS)}")
    return smoke_check(label, path, environ)


def smoke_check(label: str, path: Path, environ: Mapping[str, str]) -> Check:
    result = smoke_test(path)
    if not result.ok:
        return Check(label, "error", f"{path}: {result.detail}", result.fix)
    remember_pass(checks_cache_dir(environ) / f"{check_key(path)}.json", path, result)
    return Check(label, "ok", f"{path}: {result.detail}")


def exit_status(checks: list[Check]) -> int:
    """1 when any check is an error, else 0."""
    return 1 if any(check.status == "error" for check in checks) else 0

