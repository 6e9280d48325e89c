"""The dtype choice: bfloat16 only where the CPU computes it natively."""

from __future__ import annotations

import pytest

from lore.models import dtype
from lore.models.dtype import cpu_has_native_bf16, resolve_dtype


def test_bf16_detection() -> None:
    assert cpu_has_native_bf16("flags : fpu avx512f avx512_bf16 avx512_vnni")
    assert cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile")
    assert not cpu_has_native_bf16("flags : fpu avx2 avx512f avx512bw")


@pytest.mark.parametrize(("cpuinfo", "want"), [
    ("flags : fpu avx512f avx512_bf16", "bfloat16"),
    ("flags : fpu avx2", "float32"),
    ("", "float32"),  # no /proc/cpuinfo (not Linux): float32 is never wrong
])
def test_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, cpuinfo: str, want: str) -> None:
    monkeypatch.setattr(dtype, "read_cpuinfo", lambda: cpuinfo)
    assert resolve_dtype("auto") == want


def test_an_explicit_dtype_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dtype, "read_cpuinfo", lambda: "flags : avx512_bf16")
    assert resolve_dtype("float32") == "float32"
    assert resolve_dtype("bfloat16") == "bfloat16"
