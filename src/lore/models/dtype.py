"""Which floating-point type a PyTorch model runs in on this CPU: ``resolve_dtype``.

bfloat16 halves the bytes each matmul reads and, where the CPU has native bf16 matmul
instructions (AVX512-BF16, AMX), runs faster than float32 (``benchmarks/embedders.py`` times
both) with vectors that agree with float32 ones (``tests/embed/test_transformer.py``).
Without those instructions PyTorch emulates bf16, which is slower than float32, so ``auto``
keeps float32 there.
"""

from __future__ import annotations

import re
from typing import Literal

from lore.config import Dtype
from lore.models.cpu import read_cpuinfo

TorchDtype = Literal["bfloat16", "float32"]
"""A dtype that ``auto`` has been resolved away from: the name of a ``torch`` dtype."""


def cpu_has_native_bf16(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo`` text lists native bfloat16 matmul instructions."""
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def resolve_dtype(dtype: Dtype) -> TorchDtype:
    """``auto`` -> bfloat16 where the CPU computes it natively, else float32 (emulated bf16 is
    slower than fp32; where ``/proc/cpuinfo`` cannot be read, fp32 is never wrong)."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if cpu_has_native_bf16(read_cpuinfo()) else "float32"
