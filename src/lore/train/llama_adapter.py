"""A LoRA trained in PyTorch (PEFT) written as a llama.cpp adapter file, so the answering model
keeps running quantised in llama.cpp with the adapter applied beside its weights.

The file is a GGUF of type ``adapter``: ``adapter.type = lora``, ``adapter.lora.alpha``, and
per adapted matrix two tensors named after llama.cpp's own, ``blk.{i}.attn_q.weight.lora_a``
(r × in, PEFT's A as it is) and ``.lora_b`` (out × r, PEFT's B). llama.cpp adds
(alpha / r) · B A x to the matrix's output. Llama-architecture files store the query and key
rows permuted for llama.cpp's rotary layout, so B's rows of those two are permuted the same
way; Qwen2 files are not permuted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lore.errors import ConfigError

MODULES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v",
           "o_proj": "attn_output", "gate_proj": "ffn_gate", "up_proj": "ffn_up",
           "down_proj": "ffn_down"}
"""PEFT's target module names and the llama.cpp tensors they adapt."""
ARCHITECTURES = ("qwen2", "llama")
"""The architectures whose tensor names and layouts the writer knows."""
BASE_KEY = "lore.base_model"
"""The adapter file's record of the base model it was trained on (``base_identity``)."""

_PEFT_NAME = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def write_llama_adapter(weights: Mapping[str, np.ndarray], alpha: float, architecture: str,
                        heads: tuple[int, int], base: str, out: Path) -> int:
    """Write PEFT LoRA ``weights`` (its state dict, as float32 arrays) to ``out``; returns the
    number of adapted matrices.

    Args:
        alpha: the LoRA alpha (llama.cpp scales by alpha / r, as PEFT does).
        architecture: the base model's, ``qwen2`` or ``llama``.
        heads: (attention heads, key/value heads), for the llama permutation.
        base: ``base_identity`` of the GGUF the adapter was trained on.
    """
    import gguf  # lore[tune]

    if architecture not in ARCHITECTURES:
        raise ConfigError(f"cannot write a llama.cpp adapter for a {architecture!r} model; "
                          f"lore knows {', '.join(ARCHITECTURES)}")
    tensors = llama_tensors(weights, architecture, heads)
    if not tensors:
        raise ConfigError("the adapter has no LoRA weights on "
                          f"{', '.join(MODULES)}: nothing to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_string(BASE_KEY, base)
    for name, array in sorted(tensors.items()):
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return len(tensors) // 2


def llama_tensors(weights: Mapping[str, np.ndarray], architecture: str,
                  heads: tuple[int, int]) -> dict[str, np.ndarray]:
    """llama.cpp's adapter tensors from PEFT's names; anything else in ``weights`` is
    refused, so nothing trained is silently dropped."""
    tensors: dict[str, np.ndarray] = {}
    for name, array in weights.items():
        match = _PEFT_NAME.search(name)
        if match is None or match.group(2) not in MODULES:
            raise ConfigError(f"the LoRA weight {name!r} has no llama.cpp counterpart; adapt "
                              f"only {', '.join(MODULES)}")
        layer, module, side = match.groups()
        if side == "B" and architecture == "llama" and module in ("q_proj", "k_proj"):
            array = rotary_permuted(array, heads[0] if module == "q_proj" else heads[1])
        tensors[f"blk.{layer}.{MODULES[module]}.weight.lora_{side.lower()}"] = array
    return tensors


def rotary_permuted(rows: np.ndarray, heads: int) -> np.ndarray:
    """The rows of a query or key projection in the order llama.cpp's llama files keep them:
    each head's two rotary halves interleaved."""
    shape = rows.shape
    halves = rows.reshape(heads, 2, shape[0] // heads // 2, *shape[1:])
    return halves.swapaxes(1, 2).reshape(shape)

