"""Cross-encoder reranking: ``CrossEncoderReranker``.

Reads a sentence-transformers CrossEncoder directory (or hub id) with transformers alone:
``AutoTokenizer`` and ``AutoModelForSequenceClassification``, no sentence-transformers at run
time. Each (query, passage) pair is tokenized together, truncated longest-first to the
model's maximum length, and scored in batches of similar length; a one-logit model's logit goes
through the activation the directory records (sigmoid by default), as
``sentence_transformers.CrossEncoder.predict`` does, so the two give the same scores
(``tests/rerank/test_cross_encoder.py``).

Where the activation is recorded, by sentence-transformers version: ``activation_fn`` in
``config_sentence_transformers.json`` (v5+), ``sentence_transformers.activation_fn`` in
``config.json`` (v4), ``sbert_ce_default_activation_function`` in ``config.json`` (v2-v3).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lore.config import Dtype
from lore.errors import ConfigError
from lore.models.batches import plan_batches
from lore.models.dtype import TorchDtype, resolve_dtype
from lore.models.files import read_json, resolve_model_dir
from lore.models.pretrained import no_progress_bar

if TYPE_CHECKING:
    import torch

Activation = Literal["sigmoid", "identity"]
Forward = Callable[[list[str]], np.ndarray]
"""``passages -> (len(passages),) float32 scores`` for one query: one batch through the model."""

_ACTIVATIONS: dict[str, Activation] = {"Sigmoid": "sigmoid", "Identity": "identity"}
RELEVANCE_FILE = "relevance.json"
"""Written beside a cross-encoder lore trained: the score above which a passage is relevant,
fitted on held-out pairs (``lore.train.held_out.fit_threshold``)."""


@dataclass(frozen=True, slots=True)
class CrossEncoderInfo:
    """What ``CrossEncoderReranker`` reads from a model directory before loading weights."""

    num_labels: int
    activation: Activation
    """Applied to the logit: ``sigmoid`` gives a probability; ``identity`` keeps the logit."""
    max_length: int | None
    """Tokens of query and passage together, special tokens included, when the directory
    sets it (``sentence_bert_config.json``); else the tokenizer's ``model_max_length``."""
    positions: int | None
    """Positions the model can read: every length is capped to it."""
    lowercase: bool
    relevance_threshold: float | None = None
    """The score above which a passage is relevant, where training fitted one
    (``RELEVANCE_FILE``); None for other cross-encoders."""


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a cross-encoder, on the CPU.

    Example::

        reranker = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2")
        scores = reranker.score("how many people live in Berlin?",
                                ["Berlin has 3.5 million inhabitants.", "Berlin has museums."])
        # scores[0] > scores[1]

    Args:
        model: a CrossEncoder directory, or a hub id (downloaded once, needs the network).
        batch_size: pairs per forward pass.
        dtype: ``auto`` picks bfloat16 on CPUs with native bf16 instructions.
        max_length: overrides the directory's maximum pair length (in tokens).
    """

    def __init__(self, model: str | Path, *, batch_size: int = 16, dtype: Dtype = "auto",
                 max_length: int | None = None) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if max_length is not None and max_length < 8:
            raise ConfigError(f"max_length must be at least 8 tokens, got {max_length}")
        self.model_dir = resolve_model_dir(model)
        self.info = read_cross_encoder_info(self.model_dir)
        self.name = f"cross-encoder:{model}"
        self.batch_size = batch_size
        self.dtype = dtype
        self._max_length = max_length
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, int] | None = None

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.empty(0, dtype=np.float32)
        if self.info.lowercase:
            query, passages = query.lower(), [passage.lower() for passage in passages]
        model, tokenizer, max_length = self._load()
        lengths = [len(query) + len(passage) for passage in passages]
        return score_in_batches(
            list(passages), lengths, self.batch_size,
            lambda batch: self._forward(model, tokenizer, max_length, query, batch))

    def _forward(self, model: Any, tokenizer: Any, max_length: int, query: str,
                 passages: list[str]) -> np.ndarray:
        import torch

        encoded = tokenizer([query] * len(passages), passages, padding=True,
                            truncation="longest_first", max_length=max_length,
                            return_tensors="pt")
        with torch.inference_mode():
            logits = model(**encoded).logits.float()[:, 0]
        return activate(logits, self.info.activation).numpy()

    def _load(self) -> tuple[Any, Any, int]:
        with self._lock:
            if self._loaded is None:
                model, tokenizer = load_cross_encoder(self.model_dir, resolve_dtype(self.dtype))
                length = pair_length(self.info, int(tokenizer.model_max_length), self._max_length)
                self._loaded = model, tokenizer, length
            return self._loaded


def score_in_batches(passages: list[str], lengths: Sequence[int], batch_size: int,
                     forward: Forward) -> np.ndarray:
    """Run ``forward`` over batches of passages of similar length (longest first, so each
    batch pads only to its own longest pair) and scatter the scores back to input order."""
    out = np.empty(len(passages), dtype=np.float32)
    for batch in plan_batches(lengths, batch_size):
        out[batch] = forward([passages[i] for i in batch])
    return out


def activate(logits: torch.Tensor, activation: Activation) -> torch.Tensor:
    return logits.sigmoid() if activation == "sigmoid" else logits


def read_cross_encoder_info(model_dir: Path) -> CrossEncoderInfo:
    """Labels, activation, maximum length and casing from a CrossEncoder directory."""
    config = read_json(model_dir / "config.json")
    if config is None:
        raise ConfigError(f"{model_dir} has no config.json; is it a transformers model?")
    architectures = config.get("architectures") or []
    if not any(str(name).endswith("ForSequenceClassification") for name in architectures):
        raise ConfigError(f"{model_dir} is not a cross-encoder: its architectures are "
                          f"{architectures}, expected a *ForSequenceClassification model")
    num_labels = len(config.get("id2label") or {}) or int(config.get("num_labels", 1))
    if num_labels != 1:
        raise ConfigError(f"{model_dir} has {num_labels} labels; a reranker needs a "
                          "cross-encoder with one relevance logit")
    st_config = read_json(model_dir / "config_sentence_transformers.json") or {}
    bert_config = read_json(model_dir / "sentence_bert_config.json") or {}
    path = st_config.get("activation_fn") or \
        (config.get("sentence_transformers") or {}).get("activation_fn") or \
        config.get("sbert_ce_default_activation_function") or "torch.nn.Sigmoid"
    activation = _ACTIVATIONS.get(str(path).rsplit(".", 1)[-1])
    if activation is None:
        raise ConfigError(f"{model_dir}: activation {path!r} is not supported; "
                          f"supported: {sorted(_ACTIVATIONS)}")
    max_length = bert_config.get("max_seq_length")
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or positions <= 0:
        positions = None
    elif config.get("model_type") in ("roberta", "xlm-roberta"):
        positions -= int(config.get("pad_token_id", 1)) + 1
    fitted = read_json(model_dir / RELEVANCE_FILE) or {}
    threshold = fitted.get("threshold")
    return CrossEncoderInfo(num_labels, activation,
                            None if max_length is None else int(max_length), positions,
                            bool(bert_config.get("do_lower_case", False)),
                            None if threshold is None else float(threshold))


def save_relevance_threshold(model_dir: Path, fitted: dict[str, float]) -> None:
    """Record the relevance threshold fitted for the cross-encoder in ``model_dir``, with the
    precision, recall and F1 it had where it was fitted."""
    (model_dir / RELEVANCE_FILE).write_text(json.dumps(fitted) + "\n")


def pair_length(info: CrossEncoderInfo, tokenizer_max: int, override: int | None) -> int:
    """Tokens a pair is truncated to: the override, else the directory's setting, else the
    tokenizer's, capped by the position table (as sentence-transformers caps it)."""
    length = override or info.max_length or tokenizer_max
    return length if info.positions is None else min(length, info.positions)


def load_cross_encoder(model_dir: Path, dtype: TorchDtype) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the classification model in eval mode, in ``dtype``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with no_progress_bar():
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), dtype=getattr(torch, dtype)).eval()
    return model, tokenizer

