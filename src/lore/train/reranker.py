"""Training a cross-encoder reranker: query and passage read together, one relevance logit.

Initialised from a bi-encoder's transformer (the shipped MiniLM) with a new one-logit head,
trained on each pair's positive against its negatives with one of ``RERANK_LOSSES``:

- ``bce``: binary cross-entropy per (query, passage), 1 for the positive, 0 for a negative
  (Nogueira and Cho, "Passage Re-ranking with BERT", 2019);
- ``listwise``: softmax cross-entropy over each query's group (positive first, then its
  negatives), so only the order within a query counts (the localised contrastive estimation
  of Gao et al., "Rethink Training of BERT Rerankers in Multi-Stage Retrieval Pipeline", 2021).

The result is saved as a sentence-transformers CrossEncoder directory, which
``lore.rerank.cross_encoder.CrossEncoderReranker`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional

from lore.errors import ConfigError
from lore.models.pretrained import no_progress_bar
from lore.train.checkpoint import Checkpoint
from lore.train.loop import Progress, TrainReport, run_steps, shuffled_batches
from lore.train.pairs import Pair
from lore.train.settings import TrainSettings

RERANK_LOSSES = ("bce", "listwise")


@dataclass(frozen=True)
class Group:
    """A query, its positive and its negatives: what one example of either loss reads."""

    query: str
    passages: tuple[str, ...]
    """The positive first."""


def groups(pairs: Sequence[Pair], negatives: int) -> list[Group]:
    """One group per pair that has a negative, with up to ``negatives`` of them."""
    if not any(pair.negatives for pair in pairs):
        raise ConfigError("a reranker learns from negatives: give pairs with 'negatives' or "
                          "mine them (--negatives N)")
    return [Group(pair.query, (pair.positive, *pair.negatives[:negatives]))
            for pair in pairs if pair.negatives]


def train_cross_encoder(base_dir: Path, pairs: Sequence[Pair], settings: TrainSettings,
                        out: Path, negatives: int = 3, progress: Progress | None = None,
                        checkpoint: Checkpoint | None = None) -> TrainReport:
    """Train a cross-encoder from the transformer in ``base_dir`` and save it to ``out``.

    ``settings.batch_size`` counts groups (a query with its positive and negatives)."""
    if settings.loss not in RERANK_LOSSES:
        raise ConfigError(f"unknown reranker loss {settings.loss!r}; choose from "
                          f"{', '.join(RERANK_LOSSES)}")
    examples = groups(pairs, negatives)
    torch.manual_seed(settings.seed)
    saved = checkpoint.load() if checkpoint is not None else None
    model, tokenizer = _load(saved.model_dir if saved else base_dir)
    model.train()

    def save(folder: Path) -> None:
        save_cross_encoder(model, tokenizer, folder, settings.max_tokens)

    batches = shuffled_batches(examples, settings.batch_size, settings.epochs, settings.seed)
    with no_progress_bar():  # saving draws a bar per checkpoint otherwise
        report = run_steps(_parameter_groups(model, settings), batches,
                           lambda batch: _loss(model, tokenizer, batch, settings),
                           settings.learning_rate, settings.warmup, save, saved, checkpoint,
                           progress, settings.dtype)
        save(out)
    return report


def save_cross_encoder(model: Any, tokenizer: Any, folder: Path, max_tokens: int) -> None:
    """The model, its tokenizer and the settings a CrossEncoder directory records (sigmoid
    over the logit, the maximum pair length)."""
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_tokens, "do_lower_case": False}) + "\n")
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"activation_fn": "torch.nn.modules.activation.Sigmoid"}) + "\n")


def _load(model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # the new head's "newly initialized" warning is expected
    try:
        with no_progress_bar():
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            model = AutoModelForSequenceClassification.from_pretrained(
                str(model_dir), num_labels=1, dtype=torch.float32)
    finally:
        logging.set_verbosity(verbosity)
    return model, tokenizer


def _parameter_groups(model: Any, settings: TrainSettings) -> list[dict[str, Any]]:
    """The transformer at ``learning_rate``; the new head at ``head_learning_rate``."""
    head: list[Any] = []
    body: list[Any] = []
    for name, parameter in model.named_parameters():
        (head if name.startswith(("classifier", "bert.pooler")) else body).append(parameter)
    rate = settings.head_learning_rate or settings.learning_rate
    return [{"params": body}, {"params": head, "lr": rate}]


def _loss(model: Any, tokenizer: Any, batch: Sequence[Group], settings: TrainSettings
          ) -> torch.Tensor:
    queries = [group.query for group in batch for _ in group.passages]
    passages = [passage for group in batch for passage in group.passages]
    encoded = tokenizer(queries, passages, padding=True, truncation="longest_first",
                        max_length=settings.max_tokens, return_tensors="pt")
    logits = model(**encoded).logits[:, 0]
    if settings.loss == "bce":
        labels = torch.tensor([float(i == 0) for group in batch
                               for i in range(len(group.passages))])
        return functional.binary_cross_entropy_with_logits(logits, labels)
    losses, start, first = [], 0, torch.zeros(1, dtype=torch.long)  # the positive is first
    for group in batch:
        scores = logits[start:start + len(group.passages)]
        losses.append(functional.cross_entropy(scores.unsqueeze(0), first))
        start += len(group.passages)
    return torch.stack(losses).mean()
