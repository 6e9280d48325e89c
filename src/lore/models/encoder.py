"""Encoder forward passes on the CPU: token ids in, one pooled vector per text out.

``load_encoder`` picks one for a model directory. BERT-family encoders (BERT, RoBERTa, XLM-R
with absolute positions and a ``model.safetensors``) run through a lean forward pass written
here with the checkpoint's own weights (``BertEncoder``): no transformers import, one fused QKV
matmul per layer, oneDNN matmuls with packed weights and fused bias/GELU/residual add, and no
attention mask for a single query or a batch of equal lengths. Anything else falls back to
``transformers.AutoModel`` (``AutoModelEncoder``). Both pool the same way (``pool``).
``benchmarks/embedders.py`` and ``benchmarks/query_embedding.py`` time them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lore.models.dtype import TorchDtype
from lore.models.files import read_json
from lore.models.pretrained import no_progress_bar

if TYPE_CHECKING:
    import torch

Pooling = Literal["mean", "cls", "max"]
"""How token vectors become one text vector: their mean over real tokens, the first token's
vector, or the element-wise maximum (sentence-transformers' ``1_Pooling/config.json``)."""
Encoder = Callable[["torch.Tensor", "torch.Tensor | None"], "torch.Tensor"]
"""``(ids (B, L), lengths (B,) or None when unpadded) -> pooled (B, dim) float32``."""
Dense = Callable[["torch.Tensor"], "torch.Tensor"]
Residual = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""``(x, residual) -> linear(x) + residual``."""
LinearWeights = tuple["torch.Tensor", "torch.Tensor"]
"""A linear layer's ``(weight [out, in], bias [out])``."""

_LEAN_TYPES = ("bert", "roberta", "xlm-roberta")
_GELU_APPROXIMATION = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}


def load_encoder(model_dir: Path, pooling: Pooling, dtype: TorchDtype) -> Encoder:
    """The lean BERT forward when the checkpoint allows it, else ``transformers.AutoModel``."""
    import torch

    torch_dtype = getattr(torch, dtype)
    config = read_json(model_dir / "config.json") or {}
    weights = model_dir / "model.safetensors"
    if config.get("model_type") in _LEAN_TYPES and weights.is_file() and \
            config.get("position_embedding_type", "absolute") == "absolute" and \
            config.get("hidden_act", "gelu") in _GELU_APPROXIMATION:
        from safetensors.torch import load_file

        return BertEncoder(load_file(str(weights)), config, pooling, torch_dtype)
    return AutoModelEncoder(model_dir, pooling, torch_dtype)


class BertEncoder:
    """A BERT-family encoder forward pass over a checkpoint's tensors (see module docstring).

    ``__call__(ids (B, L), lengths (B,) or None)`` returns pooled float32 ``(B, dim)``; with
    ``lengths=None`` the rows are unpadded, and no attention mask is built (nor when every
    row fills the batch's width).

    Attention is one SDPA call over the padded batch, not one call per row over its real
    tokens: per row saves a little CPU time on one thread, but on a shared 2-core machine each
    of its many small parallel regions waits for the second thread, and a layer took many
    times longer than the batched call.

    The matmuls go through oneDNN with each weight packed once at load (one copy laid out for
    batches, one for single queries) and the bias and GELU fused into the matmul (``packed``),
    against ``F.linear``, which first copies the bias into its output and runs GELU separately;
    this made both batches and single queries faster, in bf16 and fp32
    (``benchmarks/embedders.py``). The residual adds after the attention output and the FFN
    down-projection are fused too (a ``sum`` post-op). A probe falls back to ``F.linear`` where
    the (private) oneDNN operators are missing or disagree.

    Example::

        from safetensors.torch import load_file
        encoder = BertEncoder(load_file(str(model_dir / "model.safetensors")), config, "mean",
                              torch.float32)
        pooled = encoder(torch.tensor([[101, 7592, 102]]), None)   # (1, hidden)
    """

    def __init__(self, tensors: dict[str, torch.Tensor], config: dict[str, Any],
                 pooling: Pooling, dtype: torch.dtype, *, packed: bool | None = None) -> None:
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
        self.positions = _positions(tensors, prefix, config).to(dtype)
        self.word = weight("embeddings.word_embeddings.weight")
        self.norm = (weight("embeddings.LayerNorm.weight"), weight("embeddings.LayerNorm.bias"))
        packed = _onednn_works(dtype) if packed is None else packed
        self.layers = []
        self.single = []
        for layer in range(int(config["num_hidden_layers"])):
            dense, norms = _layer_weights(partial(weight, layer=layer))
            self.layers.append((self._denses(dense, packed, 4096), norms))
            self.single.append((self._denses(dense, packed, 16), norms))

    def _denses(self, dense: dict[str, LinearWeights], packed: bool,
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


def _positions(tensors: dict[str, torch.Tensor], prefix: str, config: dict[str, Any]
               ) -> torch.Tensor:
    """Position vectors from position 0, with the (single) token type's vector added in.
    RoBERTa numbers positions from ``pad_token_id + 1``, so its first rows are skipped."""
    offset = int(config.get("pad_token_id", 1)) + 1 \
        if config.get("model_type") in ("roberta", "xlm-roberta") else 0
    positions = tensors[prefix + "embeddings.position_embeddings.weight"][offset:].float()
    if prefix + "embeddings.token_type_embeddings.weight" in tensors:
        positions = positions + tensors[prefix + "embeddings.token_type_embeddings.weight"][0]
    return positions


def _layer_weights(weight: Callable[[str], torch.Tensor]
                   ) -> tuple[dict[str, LinearWeights], tuple[torch.Tensor, ...]]:
    """One layer's dense ``(weight, bias)`` pairs, the QKV projections fused into one, and its
    two layer norms' weights and biases."""
    import torch

    qkv = [f"attention.self.{p}" for p in ("query", "key", "value")]
    dense = {
        "qkv": (torch.cat([weight(f"{p}.weight") for p in qkv]),
                torch.cat([weight(f"{p}.bias") for p in qkv])),
        "out": (weight("attention.output.dense.weight"), weight("attention.output.dense.bias")),
        "up": (weight("intermediate.dense.weight"), weight("intermediate.dense.bias")),
        "down": (weight("output.dense.weight"), weight("output.dense.bias")),
    }
    norms = (weight("attention.output.LayerNorm.weight"),
             weight("attention.output.LayerNorm.bias"),
             weight("output.LayerNorm.weight"), weight("output.LayerNorm.bias"))
    return dense, norms


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

        with no_progress_bar():
            self.model = AutoModel.from_pretrained(str(model_dir), dtype=dtype).eval()
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

