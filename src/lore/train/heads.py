"""Training the scoring heads of ``lore.rerank.heads`` on stored vectors.

Each example is a query's vector, its positive's vector and its mined negatives' vectors (as
the knowledge base stores them). The loss is the in-batch softmax of MNRL over the head's
scores: every positive of the batch and the query's own negatives are its candidates. The
correction starts at zero (the last layer is zero), so training starts from cosine ranking and
only moves away from it where the pairs say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from lore.errors import ConfigError
from lore.rerank.heads import HEAD_KINDS, HeadKind, ScoringHead
from lore.train.loop import Progress, TrainReport, run_steps, shuffled_batches
from lore.train.settings import TrainSettings

HIDDEN: dict[str, int] = {"biattention": 64, "interactive": 128}
SCALE = 20.0
"""Inverse temperature of the softmax, as in MNRL: cosines are too flat unscaled."""


@dataclass(frozen=True)
class VectorExample:
    query: np.ndarray
    positive: np.ndarray
    negatives: np.ndarray
    """(m, d), m >= 0."""


class BiAttentionHead(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros(dim, hidden))
        self.w2 = nn.Parameter(torch.empty(hidden, 2 * dim))
        self.b = nn.Parameter(torch.zeros(hidden))
        nn.init.xavier_uniform_(self.w2)

    def forward(self, h: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``h`` (B, D), ``d`` (B, N, D) -> (B, N) corrections."""
        pair = torch.cat([h.unsqueeze(1).expand_as(d), d], dim=-1)
        view = torch.tanh(pair @ self.w2.T + self.b)
        return torch.einsum("bnk,bk->bn", view, h @ self.w1)

    def weights(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).detach().numpy().copy() for name in ("w1", "w2", "b")}


class InteractiveHead(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(4 * dim, hidden)
        self.out = nn.Linear(hidden, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        q = h.unsqueeze(1).expand_as(d)
        features = torch.cat([q, d, q * d, q - d], dim=-1)
        out: torch.Tensor = self.out(functional.relu(self.hidden(features))).squeeze(-1)
        return out

    def weights(self) -> dict[str, np.ndarray]:
        return {"w_hidden": self.hidden.weight.detach().numpy().copy(),
                "b_hidden": self.hidden.bias.detach().numpy().copy(),
                "w_out": self.out.weight.detach().numpy()[0].copy(),
                "b_out": self.out.bias.detach().numpy().copy()}


def train_head(kind: HeadKind, examples: Sequence[VectorExample], settings: TrainSettings,
               progress: Progress | None = None) -> tuple[ScoringHead, TrainReport]:
    """Train a ``kind`` head on ``examples``; returns it with the loss of every step."""
    if kind not in HEAD_KINDS:
        raise ConfigError(f"unknown head {kind!r}; choose from {', '.join(HEAD_KINDS)}")
    if not examples:
        raise ConfigError("no examples to train a scoring head on")
    torch.manual_seed(settings.seed)
    dim = int(examples[0].query.shape[0])
    module: BiAttentionHead | InteractiveHead = (
        BiAttentionHead(dim, HIDDEN[kind]) if kind == "biattention"
        else InteractiveHead(dim, HIDDEN[kind]))
    module.train()
    batches = shuffled_batches(examples, settings.batch_size, settings.epochs, settings.seed)
    report = run_steps(module.parameters(), batches,
                       lambda batch: _loss(module, batch), settings.learning_rate,
                       settings.warmup, lambda folder: None, progress=progress,
                       dtype="float32")  # tiny matmuls: bf16 would only cost precision
    return ScoringHead(kind, module.weights()), report


def _loss(module: nn.Module, batch: Sequence[VectorExample]) -> torch.Tensor:
    """Each query against every positive of the batch and its own negatives (padded ones
    masked out); the right class is its own positive."""
    size, most = len(batch), max(len(e.negatives) for e in batch)
    dim = batch[0].query.shape[0]
    queries = torch.from_numpy(np.stack([e.query for e in batch]))
    positives = torch.from_numpy(np.stack([e.positive for e in batch]))
    negatives = torch.zeros(size, most, dim)
    mask = torch.zeros(size, most, dtype=torch.bool)
    for i, example in enumerate(batch):
        count = len(example.negatives)
        if count:
            negatives[i, :count] = torch.from_numpy(example.negatives)
            mask[i, :count] = True
    candidates = torch.cat([positives.unsqueeze(0).expand(size, -1, -1), negatives], dim=1)
    scores = torch.einsum("bnd,bd->bn", candidates, queries) + module(queries, candidates)
    scores = scores.masked_fill(torch.cat([torch.ones(size, size, dtype=torch.bool), mask],
                                          dim=1).logical_not(), float("-inf"))
    return functional.cross_entropy(scores * SCALE, torch.arange(size))
