"""Fine-tuning a bi-encoder (the dense retriever's embedder) on training pairs.

The model is a sentence-transformers directory (the shipped MiniLM's, or one trained before);
the loss is one of ``LOSSES``, over the embeddings of each batch's queries, positives and
hard negatives. AdamW with a linear warm-up then decay, a fixed seed, on the CPU.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from lore.errors import ConfigError
from lore.train.contrastive import ContrastiveLoss
from lore.train.mnrl import MultipleNegativesRankingLoss
from lore.train.pairs import Pair
from lore.train.triplet import TripletLoss

LossName = Literal["mnrl", "triplet", "contrastive"]
LOSSES: dict[str, Callable[[], nn.Module]] = {
    "mnrl": MultipleNegativesRankingLoss,
    "triplet": lambda: TripletLoss(distance="cosine"),
    "contrastive": lambda: ContrastiveLoss(distance="cosine"),
}
Progress = Callable[[int, int, float], None]
"""Called after each step with (step, steps, loss)."""


@dataclass(frozen=True)
class TrainSettings:
    loss: LossName = "mnrl"
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1
    """Share of the steps over which the learning rate rises from 0."""
    seed: int = 0
    max_tokens: int = 256
    """Texts are cut to this many tokens (MiniLM reads 256)."""


@dataclass
class TrainReport:
    losses: list[float] = field(default_factory=list)
    """The loss of every step, in order."""

    @property
    def steps(self) -> int:
        return len(self.losses)


def train_bi_encoder(model_dir: Path, pairs: Sequence[Pair], settings: TrainSettings,
                     out: Path, progress: Progress | None = None) -> TrainReport:
    """Fine-tune the model in ``model_dir`` on ``pairs`` and save it to ``out``."""
    from sentence_transformers import SentenceTransformer

    loss = _loss(settings.loss, pairs)
    if settings.loss == "triplet":  # a triplet needs its negative: pairs without one wait
        pairs = [pair for pair in pairs if pair.negatives]
    torch.manual_seed(settings.seed)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = settings.max_tokens
    batches = _batches(pairs, settings)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    schedule = _schedule(optimizer, len(batches), settings.warmup)
    report = TrainReport()
    model.train()
    for step, batch in enumerate(batches, start=1):
        value = _step(model, loss, batch)
        value.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        report.losses.append(float(value.detach()))
        if progress is not None:
            progress(step, len(batches), report.losses[-1])
    model.save(str(out))
    return report


def _loss(name: str, pairs: Sequence[Pair]) -> nn.Module:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    if name == "triplet" and not any(pair.negatives for pair in pairs):
        raise ConfigError("the triplet loss needs negatives: give pairs with 'negatives' or "
                          "mine them, or train with --loss mnrl")
    return LOSSES[name]()


def _batches(pairs: Sequence[Pair], settings: TrainSettings) -> list[list[Pair]]:
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


def _schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: float
              ) -> torch.optim.lr_scheduler.LambdaLR:
    rise = max(1, int(steps * warmup))

    def factor(step: int) -> float:
        if step < rise:
            return (step + 1) / rise
        return max(0.0, (steps - step) / max(1, steps - rise))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
