"""Instruction sets tried for real in a child process, not trusted from CPUID."""

from __future__ import annotations

import platform
import sys

import pytest

from lore.models.cpu import (
    PROBES,
    FeatureCheck,
    cpu_flags,
    executable_features,
    llama_cmake_args,
    read_cpuinfo,
    try_instruction,
    unrunnable,
)

x86_linux = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in {"x86_64", "AMD64"},
    reason="the probes are x86-64 machine code")


@x86_linux
def test_an_instruction_the_cpu_cannot_run_is_reported_as_the_signal_not_a_crash() -> None:
    ran, why = try_instruction("0f0b")  # ud2: undefined on every x86 CPU
    assert ran is False
    assert why == "killed by SIGILL"


@x86_linux
def test_an_instruction_every_x86_64_cpu_runs_is_reported_as_running() -> None:
    assert try_instruction("90") == (True, "")  # nop


@x86_linux
def test_a_listed_feature_the_machine_cannot_execute_is_caught() -> None:
    real = cpu_flags(read_cpuinfo())
    fake = next((name for name, (flag, _) in PROBES.items() if flag not in real), None)
    if fake is None:
        pytest.skip("this CPU lists every probed feature")
    flag = PROBES[fake][0]
    checks = {check.name: check for check in executable_features(f"flags\t: sse2 {flag}\n")}
    assert checks[fake].listed
    assert checks[fake].executes is False, checks[fake]
    assert "SIGILL" in checks[fake].detail or "refused" in checks[fake].detail


@x86_linux
def test_features_the_cpu_lists_and_runs_are_confirmed() -> None:
    real = cpu_flags(read_cpuinfo())
    if "avx2" not in real:
        pytest.skip("no AVX2 here")
    checks = {check.name: check for check in executable_features()}
    assert checks["AVX2"] == FeatureCheck("AVX2", True, True)


def test_an_unlisted_feature_is_not_tried() -> None:
    checks = {check.name: check for check in executable_features("flags\t: fpu sse2\n")}
    assert not checks["AMX_INT8"].listed
    assert checks["AMX_INT8"].executes is False


def test_a_build_is_unrunnable_where_it_uses_what_the_machine_cannot_execute() -> None:
    checks = [FeatureCheck("AVX2", True, True), FeatureCheck("AMX_INT8", True, False, "SIGILL"),
              FeatureCheck("AVX512", True, None, "unknown")]
    assert unrunnable({"AVX2": True, "AMX_INT8": True, "AVX512": True}, checks) == ["AMX_INT8"]
    assert unrunnable({"AVX2": True, "AMX_INT8": False}, checks) == []


def checks_where(runs: set[str], faults: frozenset[str] = frozenset()) -> list[FeatureCheck]:
    return [FeatureCheck(name, name in runs | faults, name in runs,
                         "killed by SIGILL" if name in faults else "")
            for name in PROBES]


AVX512_FLAGS = {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"}
BASELINE = {"AVX", "AVX2", "FMA", "F16C", "BMI2"}


@x86_linux
def test_the_build_is_never_native_and_never_amx_even_where_amx_runs() -> None:
    args = llama_cmake_args(checks_where(set(PROBES)), AVX512_FLAGS)
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AMX_INT8=OFF" in args
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX_VNNI=ON"} <= set(args)


@x86_linux
def test_avx512_listed_but_faulting_is_left_out() -> None:
    args = llama_cmake_args(checks_where(BASELINE, faults=frozenset({"AVX512", "AVX512_VNNI"})),
                            AVX512_FLAGS)
    assert "-DGGML_AVX2=ON" in args
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AVX512_VNNI=OFF" in args


@x86_linux
def test_avx512_needs_its_whole_family_listed() -> None:
    args = llama_cmake_args(checks_where(BASELINE | {"AVX512"}), {"avx512f"})
    assert "-DGGML_AVX512=OFF" in args


@x86_linux
def test_below_x86_64_v3_every_simd_option_is_off() -> None:
    args = llama_cmake_args(checks_where({"AVX", "FMA"}), set())
    assert "-DGGML_AVX=OFF" in args and "-DGGML_AVX2=OFF" in args
    assert "-DGGML_NATIVE=OFF" in args


@x86_linux
def test_where_nothing_can_be_tried_the_floor_trusts_the_listing_and_nothing_more() -> None:
    untried = [FeatureCheck(name, True, None, "the probe failed") for name in PROBES]
    args = llama_cmake_args(untried, AVX512_FLAGS)
    assert "-DGGML_AVX2=ON" in args and "-DGGML_FMA=ON" in args
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AVX_VNNI=OFF" in args
