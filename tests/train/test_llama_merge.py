"""Merging a LoRA adapter into its base GGUF, on small files written by the test: the adapted
matrix becomes W + (alpha / r) B A, stored finely enough to keep the change; everything else
is copied as it was."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Types
from gguf.quants import dequantize, quantize

from lore.errors import ConfigError
from lore.train.llama_merge import MERGED_KEY, merge_adapter

ROWS, COLUMNS, RANK, ALPHA = 8, 64, 2, 4.0


def _base(path: Path, weight: np.ndarray, other: np.ndarray) -> Path:
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    quantised = quantize(weight, Types.Q5_0)
    writer.add_tensor("blk.0.attn_q.weight", quantised, raw_shape=quantised.shape,
                      raw_dtype=Types.Q5_0)
    writer.add_tensor("blk.0.attn_norm.weight", other)
    _close(writer)
    return path


def _adapter(path: Path, a: np.ndarray, b: np.ndarray, target: str = "blk.0.attn_q.weight"
             ) -> Path:
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, ALPHA)
    writer.add_tensor(f"{target}.lora_a", a)
    writer.add_tensor(f"{target}.lora_b", b)
    _close(writer)
    return path


def _close(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    random = np.random.default_rng(0)
    weight = random.normal(size=(ROWS, COLUMNS)).astype(np.float32)
    a = random.normal(size=(RANK, COLUMNS)).astype(np.float32) * 0.1
    b = random.normal(size=(ROWS, RANK)).astype(np.float32) * 0.1
    base = _base(tmp_path / "base.gguf", weight, np.arange(COLUMNS, dtype=np.float32))
    stored = dequantize(quantize(weight, Types.Q5_0), Types.Q5_0)
    return base, _adapter(tmp_path / "adapter.gguf", a, b), stored, (ALPHA / RANK) * (b @ a)


def test_the_adapted_matrix_holds_the_learned_change(
        parts: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    base, adapter, stored, change = parts
    out = tmp_path / "merged.gguf"
    assert merge_adapter(base, adapter, out, identity="adapter-id") == 1
    merged = gguf.GGUFReader(str(out))
    tensor = {t.name: t for t in merged.tensors}["blk.0.attn_q.weight"]
    assert tensor.tensor_type == Types.Q8_0
    kept = dequantize(tensor.data, tensor.tensor_type) - stored
    assert np.corrcoef(kept.ravel(), change.ravel())[0, 1] > 0.95
    # the base's own type would have rounded the change mostly away
    rounded = dequantize(quantize(stored + change, Types.Q5_0), Types.Q5_0) - stored
    assert np.corrcoef(rounded.ravel(), change.ravel())[0, 1] < 0.6
    assert merged.fields[MERGED_KEY].contents() == "adapter-id"


def test_everything_else_is_copied_as_it_was(
        parts: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    base, adapter, _, _ = parts
    out = tmp_path / "merged.gguf"
    merge_adapter(base, adapter, out)
    before, after = gguf.GGUFReader(str(base)), gguf.GGUFReader(str(out))
    norm = [{t.name: t for t in r.tensors}["blk.0.attn_norm.weight"] for r in (before, after)]
    assert norm[0].data.tobytes() == norm[1].data.tobytes()
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "general.architecture"):
        assert after.fields[key].contents() == before.fields[key].contents()


def test_an_adapter_for_another_shape_is_refused(tmp_path: Path,
                                                 parts: tuple[Path, Path, np.ndarray,
                                                              np.ndarray]) -> None:
    base = parts[0]
    wide = _adapter(tmp_path / "wide.gguf", np.zeros((RANK, 2 * COLUMNS), np.float32),
                    np.zeros((ROWS, RANK), np.float32))
    with pytest.raises(ConfigError, match=r"attn_q.weight as 8 × 128.*another model"):
        merge_adapter(base, wide, tmp_path / "merged.gguf")
    missing = _adapter(tmp_path / "missing.gguf", np.zeros((RANK, COLUMNS), np.float32),
                       np.zeros((ROWS, RANK), np.float32), target="blk.7.attn_q.weight")
    with pytest.raises(ConfigError, match="blk.7.attn_q.weight"):
        merge_adapter(base, missing, tmp_path / "merged.gguf")
    assert not list(tmp_path.glob("merged*"))


def test_a_model_file_is_no_adapter(parts: tuple[Path, Path, np.ndarray, np.ndarray],
                                    tmp_path: Path) -> None:
    base = parts[0]
    with pytest.raises(ConfigError, match="not a llama.cpp LoRA adapter"):
        merge_adapter(base, base, tmp_path / "merged.gguf")
