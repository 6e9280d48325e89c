"""Fine-tuning a bi-encoder (the dense retriever's embedder) on training pairs.

The model is a sentence-transformers directory (the shipped MiniLM's, or one trained before);
the loss is one of ``LOSSES``, over the embeddings of each batch's queries, positives and
hard negatives. AdamW with a linear warm-up then decay, a fixed seed, on the CPU.

With a checkpoint folder, the weights, the optimizer, the schedule, the random state and the
losses so far are saved every ``checkpoint_every`` steps; a run started again with the same
model, pairs and settings resumes from the last save and ends where the uninterrupted run
would have (``lore.train.checkpoint``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lore.errors import ConfigError
from lore.models.pretrained import no_progress_bar
from lore.train.checkpoint import Checkpoint
from lore.train.contrastive import ContrastiveLoss
from lore.train.loop import Progress, TrainReport, run_steps
from lore.train.mnrl import MultipleNegativesRankingLoss
from lore.train.pairs import Pair
from lore.train.settings import TrainSettings
from lore.train.triplet import TripletLoss

LOSSES: dict[str, Callable[[], nn.Module]] = {
    "mnrl": MultipleNegativesRankingLoss,
    "triplet": lambda: TripletLoss(distance="cosine"),
    "contrastive": lambda: ContrastiveLoss(distance="cosine"),
}


def train_bi_encoder(model_dir: Path, pairs: Sequence[Pair], settings: TrainSettings,
                     out: Path, progress: Progress | None = None,
                     checkpoint: Checkpoint | None = None) -> TrainReport:
    """Fine-tune the model in ``model_dir`` on ``pairs`` and save it to ``out``; with a
    ``checkpoint``, resume from it and save to it as training goes."""
    from sentence_transformers import SentenceTransformer

    loss = _loss(settings.loss, pairs)
    if settings.loss == "triplet":  # a triplet needs its negative: pairs without one wait
        pairs = [pair for pair in pairs if pair.negatives]
    with no_progress_bar():  # saving draws a bar per checkpoint otherwise
        torch.manual_seed(settings.seed)
        saved = checkpoint.load() if checkpoint is not None else None
        model = SentenceTransformer(str(saved.model_dir if saved else model_dir), device="cpu")
        model.max_seq_length = settings.max_tokens
        model.train()
        report = run_steps(model.parameters(), batches(pairs, settings),
                           lambda batch: _step(model, loss, batch), settings.learning_rate,
                           settings.warmup, lambda folder: model.save(str(folder)), saved,
                           checkpoint, progress, settings.dtype)
        model.save(str(out))
    return report


def _loss(name: str, pairs: Sequence[Pair]) -> nn.Module:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    if name == "triplet" and not any(pair.negatives for pair in pairs):
        raise ConfigError("the triplet loss needs negatives: give pairs with 'negatives' or "
                          "mine them, or train with --loss mnrl")
    return LOSSES[name]()


def batches(pairs: Sequence[Pair], settings: TrainSettings) -> list[list[Pair]]:
    """Shuffled batches, epoch after epoch; a batch holds each query once (a repeated query
    would make its own positive an in-batch negative), so a repeat waits for a later batch."""
    rng = random.Random(settings.seed)
    batches: list[list[Pair]] = []
    for _ in range(settings.epochs):
        order = list(pairs)
        rng.shuffle(order)
        epoch: list[list[Pair]] = []
        for pair in order:
            batch = next((b for b in epoch if len(b) < settings.batch_size
                          and all(p.query != pair.query for p in b)), None)
            if batch is None:
                batch = []
                epoch.append(batch)
            batch.append(pair)
        batches.extend(epoch)
    return batches


def _step(model: Any, loss: nn.Module, batch: Sequence[Pair]) -> torch.Tensor:
    """The loss of one batch; hard negatives join when every pair of the batch has one."""
    queries = _embed(model, [pair.query for pair in batch])
    positives = _embed(model, [pair.positive for pair in batch])
    negatives = None
    if all(pair.negatives for pair in batch):
        negatives = _embed(model, [pair.negatives[0] for pair in batch]).unsqueeze(1)
    value: torch.Tensor = loss(queries, positives, negatives)
    return value


def _embed(model: Any, texts: Sequence[str]) -> torch.Tensor:
    features = model.preprocess(list(texts))
    embeddings: torch.Tensor = model(features)["sentence_embedding"]
    return embeddings
