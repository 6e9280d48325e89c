"""The optimisation loop every trainer shares: AdamW, a linear warm-up then decay, a loss per
batch, checkpoints and progress.

A trainer supplies its batches (fixed by the seed, so a resumed run sees the same ones), the
loss of one batch, and how to save its model; the loop does the rest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from lore.config import Dtype
from lore.models.dtype import resolve_dtype
from lore.train.checkpoint import Checkpoint, Saved

Batch = TypeVar("Batch")
Progress = Callable[[int, int, float], None]
"""Called after each step with (step, steps, loss)."""


@dataclass
class TrainReport:
    losses: list[float] = field(default_factory=list)
    """The loss of every step, in order."""

    @property
    def steps(self) -> int:
        return len(self.losses)


Parameters = Iterable[torch.nn.Parameter] | list[dict[str, Any]]
"""The model's parameters, or AdamW parameter groups (a new head learning faster)."""


def run_steps(parameters: Parameters, batches: Sequence[Batch],
              batch_loss: Callable[[Batch], torch.Tensor], learning_rate: float, warmup: float,
              save_model: Callable[[Path], None], saved: Saved | None = None,
              checkpoint: Checkpoint | None = None, progress: Progress | None = None,
              dtype: Dtype = "float32", part_size: int | None = None) -> TrainReport:
    """Train over ``batches``, from the ``saved`` checkpoint when there is one.

    With ``dtype`` bfloat16 (or ``auto`` on a CPU with native bf16 matmuls) the forward pass
    runs under autocast: matmuls in bf16, the weights, gradients and optimizer in float32.

    With ``part_size``, each batch (a sequence) is back-propagated in parts of that many
    items, their gradients summed: memory then holds one part's activations, and for a loss
    that is a mean over the batch's items the step is the same."""
    bf16 = resolve_dtype(dtype) == "bfloat16"
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    schedule = linear_schedule(optimizer, len(batches), warmup)
    report = TrainReport()
    if saved is not None:
        report.losses = saved.restore(optimizer, schedule)
    for step in range(report.steps + 1, len(batches) + 1):
        batch = batches[step - 1]
        total = 0.0
        for part, share in _parts(batch, part_size):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                value = batch_loss(part) * share
            value.float().backward()  # type: ignore[no-untyped-call]
            total += float(value.detach())
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        report.losses.append(total)
        if checkpoint is not None and checkpoint.due(step, len(batches)):
            checkpoint.save(save_model, optimizer, schedule, report.losses)
        if progress is not None:
            progress(step, len(batches), report.losses[-1])
    return report


def _parts(batch: Batch, size: int | None) -> list[tuple[Batch, float]]:
    """``batch`` in parts of ``size`` items, each with its share of the batch's items."""
    if size is None:
        return [(batch, 1.0)]
    items: Any = batch
    return [(items[at:at + size], len(items[at:at + size]) / len(items))
            for at in range(0, len(items), size)]


def shuffled_batches(items: Sequence[Batch], batch_size: int, epochs: int, seed: int
                     ) -> list[list[Batch]]:
    """Each epoch the items in a new order fixed by ``seed``, cut into batches."""
    rng = random.Random(seed)
    out: list[list[Batch]] = []
    for _ in range(epochs):
        order = list(items)
        rng.shuffle(order)
        out.extend(order[i:i + batch_size] for i in range(0, len(order), batch_size))
    return out


def linear_schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: float
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate rises linearly over ``warmup`` of the steps, then falls to zero."""
    rise = max(1, int(steps * warmup))

    def factor(step: int) -> float:
        if step < rise:
            return (step + 1) / rise
        return max(0.0, (steps - step) / max(1, steps - rise))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
