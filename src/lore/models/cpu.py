"""Which x86 instruction sets this machine really executes: ``executable_features``.

CPUID is not proof. A virtual machine may list AMX in ``/proc/cpuinfo`` that it cannot run:
the kernel grants the permission and the first tile instruction still dies with SIGILL. A
llama.cpp built for such a listing ("native") crashes the process on its first batch. So each
feature the CPU lists is tried for real: a child process runs one of its instructions from
executable memory, and a child killed by a signal means the machine cannot run it.

Feature names are llama.cpp's (``llama_print_system_info``), so a build's list and the
machine's can be compared name by name.
"""

from __future__ import annotations

import json
import platform
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_VZEROUPPER_RET = "c5f877c3"

PROBES: dict[str, tuple[str, str]] = {
    # llama.cpp's name: (the /proc/cpuinfo flag, machine code ending in vzeroupper; ret)
    "AVX": ("avx", "c5fc57c0"),                    # vxorps ymm0, ymm0, ymm0
    "AVX2": ("avx2", "c5fdefc0"),                  # vpxor ymm0, ymm0, ymm0
    "FMA": ("fma", "c4e27db8c0"),                  # vfmadd231ps ymm0, ymm0, ymm0
    "F16C": ("f16c", "c4e27d13c0"),                # vcvtph2ps ymm0, xmm0
    "BMI2": ("bmi2", "c4e279f7c0"),                # shlx eax, eax, eax
    "AVX_VNNI": ("avx_vnni", "c4e27d50c0"),        # {vex} vpdpbusd ymm0, ymm0, ymm0
    "AVX512": ("avx512f", "62f17d48efc0"),         # vpxord zmm0, zmm0, zmm0
    "AVX512_VBMI": ("avx512vbmi", "62f27d488dc0"),  # vpermb zmm0, zmm0, zmm0
    "AVX512_VNNI": ("avx512_vnni", "62f27d4850c0"),  # vpdpbusd zmm0, zmm0, zmm0
    "AVX512_BF16": ("avx512_bf16", "62f27e4852c0"),  # vdpbf16ps zmm0, zmm0, zmm0
    # ldtilecfg [rdi]; tilezero tmm0..2; tdpbssd tmm0, tmm1, tmm2; tilerelease
    "AMX_INT8": ("amx_int8", "c4e2784907c4e27b49c0c4e27b49c8c4e27b49d0c4e26b5ec1c4e27849c0"),
}
"""Each feature llama.cpp can be built for, with one instruction that needs it."""

# The child runs the code as ``void f(const void *tile_config)``. AMX also needs the kernel's
# permission for the tile state (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) and a
# tile configuration: palette 1, tiles 0-2 of 16 rows of 64 bytes.
_CHILD = """
import ctypes, json, mmap, sys
code = bytes.fromhex(sys.argv[1])
if sys.argv[2] == "amx":
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(158, 0x1023, 18) != 0:
        print(json.dumps({"ran": False, "why": "the kernel refused AMX tile permission"}))
        sys.exit()
config = (ctypes.c_ubyte * 64)()
config[0] = 1
for tile in range(3):
    config[16 + 2 * tile] = 64
    config[48 + tile] = 16
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
address = ctypes.addressof(ctypes.c_char.from_buffer(page))
ctypes.CFUNCTYPE(None, ctypes.c_void_p)(address)(ctypes.addressof(config))
print(json.dumps({"ran": True}))
"""


@dataclass(frozen=True, slots=True)
class FeatureCheck:
    """One instruction set: whether the CPU lists it, and whether it really runs here."""

    name: str
    """llama.cpp's name for it, e.g. ``AVX512`` or ``AMX_INT8``."""
    listed: bool
    """``/proc/cpuinfo`` lists it (what a native build trusts)."""
    executes: bool | None
    """An instruction of it ran in a child process; ``None`` when that could not be told
    (not Linux on x86-64, or the child failed for another reason than a signal)."""
    detail: str = ""
    """Why ``executes`` is False or None: the signal, or the child's failure."""


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags of the first processor in ``/proc/cpuinfo`` text."""
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def read_cpuinfo() -> str:
    """``/proc/cpuinfo``, or empty where there is none."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str:
    """The processor's model name, e.g. ``AMD EPYC`` (``platform.processor()`` elsewhere)."""
    match = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or platform.machine()


def executable_features(cpuinfo: str | None = None,
                        timeout: float = 20.0) -> list[FeatureCheck]:
    """Every feature in ``PROBES``: listed by the CPU, and tried in a child when listed.

    A feature the CPU does not list is not tried (its instruction would only fault), so on a
    machine that is not x86-64 Linux every feature is reported as unlisted.
    """
    flags = cpu_flags(read_cpuinfo() if cpuinfo is None else cpuinfo)
    return [_check(name, flag in flags, code, timeout)
            for name, (flag, code) in PROBES.items()]


def _check(name: str, listed: bool, code: str, timeout: float) -> FeatureCheck:
    if not listed:
        return FeatureCheck(name, False, False, "not listed by the CPU")
    executes, detail = try_instruction(code, amx=name.startswith("AMX"), timeout=timeout)
    return FeatureCheck(name, True, executes, detail)


def try_instruction(code: str, *, amx: bool = False, timeout: float = 20.0
                    ) -> tuple[bool | None, str]:
    """Run x86-64 machine code (hex, without the final ``ret``) in a child process.

    Returns ``(True, "")`` when it ran, ``(False, why)`` when the child died of a signal or
    was refused AMX permission, and ``(None, why)`` when that could not be told.
    """
    if not _is_x86_linux():
        return None, "only tried on x86-64 Linux"
    argv = [sys.executable, "-I", "-c", _CHILD, code + _VZEROUPPER_RET, "amx" if amx else "-"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"the probe did not finish in {timeout:g} s"
    if done.returncode < 0:
        return False, f"killed by {signal_name(-done.returncode)}"
    try:
        result = json.loads(done.stdout)
        return bool(result["ran"]), str(result.get("why", ""))
    except (ValueError, KeyError, TypeError):
        return None, f"the probe failed (exit status {done.returncode})"


def signal_name(number: int) -> str:
    """``SIGILL`` for 4; ``signal 99`` for a number with no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _is_x86_linux() -> bool:
    return sys.platform == "linux" and platform.machine().lower() in {"x86_64", "amd64"}


def unrunnable(built: Mapping[str, bool], checks: list[FeatureCheck]) -> list[str]:
    """The features a build uses that this machine is known not to execute."""
    known_bad = {check.name for check in checks if check.executes is False}
    return sorted(name for name, on in built.items() if on and name in known_bad)


_BASELINE = ("AVX", "AVX2", "FMA", "F16C", "BMI2")
"""x86-64-v3, the floor of the build lore installs when the machine runs it."""
_AVX512_FAMILY = ("avx512cd", "avx512vl", "avx512dq", "avx512bw")
"""What llama.cpp's GGML_AVX512 compiles for besides AVX-512F (one save state: listed suffices
once an AVX-512F instruction has run)."""
_AVX512_EXTRAS = ("AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16")


def llama_cmake_args(checks: list[FeatureCheck], flags: set[str]) -> list[str]:
    """llama.cpp's CMake flags for this machine: never native, never AMX, and each optional
    instruction set only when one of its instructions ran here (``executable_features``).

    x86-64-v3 is the floor; AVX-VNNI and AVX-512 (with VBMI, VNNI and BF16) are added where
    they run, as they speed up prompts (``benchmarks/llama_speed.py``). Below the floor every
    SIMD option is off. Elsewhere than x86-64, llama.cpp's portable defaults.
    """
    args = ["-DGGML_NATIVE=OFF"]
    if not _is_x86_linux():
        return args
    runs = {check.name for check in checks if check.executes}
    # Where nothing can be tried (executable memory refused), the floor trusts the listing:
    # x86-64-v3 is old enough that no machine lists it without running it.
    floor = runs | {check.name for check in checks if check.executes is None and check.listed}
    baseline = all(name in floor for name in _BASELINE)
    args += [f"-DGGML_{name}={'ON' if baseline else 'OFF'}" for name in _BASELINE]
    avx512 = baseline and "AVX512" in runs and all(flag in flags for flag in _AVX512_FAMILY)
    args.append(f"-DGGML_AVX_VNNI={'ON' if baseline and 'AVX_VNNI' in runs else 'OFF'}")
    args.append(f"-DGGML_AVX512={'ON' if avx512 else 'OFF'}")
    args += [f"-DGGML_{name}={'ON' if avx512 and name in runs else 'OFF'}"
             for name in _AVX512_EXTRAS]
    args += ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
    return args


if __name__ == "__main__":
    # scripts/install: the flags to build llama.cpp with, from probes run now. Only the
    # standard library is imported, so this runs before lore is installed.
    cpuinfo = read_cpuinfo()
    print(" ".join(llama_cmake_args(executable_features(cpuinfo), cpu_flags(cpuinfo))))
