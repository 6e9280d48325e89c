"""A llama.cpp LoRA adapter merged into a copy of its base GGUF, so the answering model runs
with no adapter beside it: the same graph, the same speed as the model it came from.

Each adapted matrix becomes W + (alpha / r) · B A, computed in float32 from the dequantised
weights. Stored back in its own 4-6 bit type, most of that small learned change would round
away: it lies within one quantisation step of W, on whose grid W already sits. So adapted
matrices that were quantised are stored as Q8_0, whose rounding error is several times smaller
than the base type's own; float matrices keep their type. Every other tensor, and all of the
metadata (tokenizer, chat template), is copied byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lore.errors import ConfigError

MERGED_KEY = "lore.merged_adapter"
"""The merged file's record of the adapter merged into it (its ``gguf_identity``)."""
_SUFFIXES = (".lora_a", ".lora_b")


def merge_adapter(base: Path, adapter: Path, out: Path, identity: str = "",
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``base`` with ``adapter`` merged into it to ``out`` (atomically); returns the
    number of matrices merged. ``progress(done, total)`` is called after each tensor.

    Raises:
        ConfigError: ``adapter`` is not a LoRA adapter, or adapts a matrix ``base`` lacks or
            has in another shape (it was trained for another model).
    """
    import gguf  # lore[tune]

    model = gguf.GGUFReader(str(base))
    pairs, alpha = _lora_pairs(gguf.GGUFReader(str(adapter)), adapter)
    tensors = {tensor.name: tensor for tensor in model.tensors}
    _check_targets(pairs, tensors, base, adapter)
    architecture = model.fields[gguf.Keys.General.ARCHITECTURE].contents()
    partial = out.with_name(out.name + ".part")
    writer = gguf.GGUFWriter(str(partial), architecture)
    _copy_metadata(model, writer)
    if identity:
        writer.add_string(MERGED_KEY, identity)
    planned = [(tensor, _merged_type(tensor.tensor_type) if tensor.name in pairs else None)
               for tensor in model.tensors]
    for tensor, merged in planned:
        if merged is None:
            writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype,
                                   tensor.data.nbytes, tensor.tensor_type)
        else:
            shape = _stored_shape(tensor, merged)
            dtype = _float_dtype(merged) or np.dtype(np.uint8)
            writer.add_tensor_info(tensor.name, shape, dtype,
                                   int(np.prod(shape)) * dtype.itemsize, merged)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for done, (tensor, merged) in enumerate(planned, 1):
        if merged is None:
            writer.write_tensor_data(tensor.data, tensor_endianess=model.endianess)
        else:
            a, b = pairs[tensor.name]
            weight = _dequantised(tensor) + (alpha / a.shape[0]) * (b @ a)
            writer.write_tensor_data(_stored(weight, merged))
        if progress is not None:
            progress(done, len(planned))
    writer.close()
    partial.replace(out)
    return len(pairs)


def _lora_pairs(reader: Any, path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                                    float]:
    """{adapted tensor: (A as r × in, B as out × r)} and alpha, from an adapter file."""
    import gguf

    kind = reader.fields.get(gguf.Keys.Adapter.TYPE)
    alpha = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    if kind is None or kind.contents() != "lora" or alpha is None:
        raise ConfigError(f"{path} is not a llama.cpp LoRA adapter (no adapter.type = lora "
                          "and adapter.lora.alpha); give the adapter file lore wrote")
    halves: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        target, suffix = tensor.name[:-7], tensor.name[-7:]
        if suffix not in _SUFFIXES:
            raise ConfigError(f"{path} holds {tensor.name!r}, which is no LoRA half")
        halves.setdefault(target, {})[suffix] = np.asarray(tensor.data, dtype=np.float32)
    pairs = {}
    for target, half in halves.items():
        if len(half) != 2:
            raise ConfigError(f"{path} holds one half of {target!r}'s LoRA; write it again")
        pairs[target] = (half[".lora_a"], half[".lora_b"])
    return pairs, float(alpha.contents())


def _check_targets(pairs: dict[str, tuple[np.ndarray, np.ndarray]], tensors: dict[str, Any],
                   base: Path, adapter: Path) -> None:
    for name, (a, b) in pairs.items():
        tensor = tensors.get(name)
        rows_cols = (b.shape[0], a.shape[1])
        if tensor is None or _matrix_shape(tensor) != rows_cols:
            raise ConfigError(f"{adapter} adapts {name} as {rows_cols[0]} × {rows_cols[1]}, "
                              f"which {base.name} does not hold: it was trained for another "
                              "model; merge it into the model it was trained on")


def _copy_metadata(reader: Any, writer: Any) -> None:
    """Every key but those the writer adds itself."""
    import gguf

    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
        if field.name == gguf.Keys.General.ALIGNMENT:
            writer.data_alignment = int(field.contents())


def _merged_type(source: Any) -> Any:
    from gguf import GGMLQuantizationType as Types

    return source if _float_dtype(source) is not None else Types.Q8_0


def _float_dtype(kind: Any) -> np.dtype[Any] | None:
    """The numpy type of a float tensor type; None for a quantised one."""
    from gguf import GGMLQuantizationType as Types

    floats: dict[Any, np.dtype[Any]] = {Types.F32: np.dtype(np.float32),
                                        Types.F16: np.dtype(np.float16)}
    return floats.get(kind)


def _stored_shape(tensor: Any, merged: Any) -> tuple[int, ...]:
    """The numpy shape of ``tensor`` stored as ``merged``: its rows, then its bytes a row for
    a quantised type."""
    from gguf.quants import quant_shape_to_byte_shape

    shape = _matrix_shape(tensor)
    if _float_dtype(merged) is not None:
        return shape
    return tuple(quant_shape_to_byte_shape(shape, merged))


def _matrix_shape(tensor: Any) -> tuple[int, ...]:
    """A GGUF tensor's shape in numpy's order (rows first); GGUF lists it columns first."""
    return tuple(int(n) for n in reversed(tensor.shape))


def _dequantised(tensor: Any) -> np.ndarray:
    from gguf.quants import dequantize

    return np.asarray(dequantize(tensor.data, tensor.tensor_type),
                      dtype=np.float32).reshape(_matrix_shape(tensor))


def _stored(weight: np.ndarray, merged: Any) -> np.ndarray:
    from gguf.quants import quantize

    dtype = _float_dtype(merged)
    return weight.astype(dtype) if dtype is not None else quantize(weight, merged)
