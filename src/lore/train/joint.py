"""Retrieval and generation trained as one system (Lewis et al. 2020): the query encoder and a
LoRA on the answering model minimise one loss, −log p(y | x) marginalised over each
question's top-k passages (RAG-Sequence, or RAG-Token per token), the stored passage vectors
frozen so the index stays valid.

The same loop trains each part alone, the baselines the joint system is measured against:
the generator alone on each question's gold passage (k = 1 and no encoder: the loss is then
the answer's negative log-likelihood), and the query encoder alone with the model frozen
(``lore.train.query_encoder``, which reads cached llama.cpp scores instead and is cheaper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lore.models.pretrained import no_progress_bar
from lore.train.causal_lm import TokenRow, answer_logprobs, with_lora
from lore.train.checkpoint import Checkpoint
from lore.train.loop import Progress, TrainReport, run_steps, shuffled_batches
from lore.train.rag_objectives import objective_loss
from lore.train.settings import LoraSettings, RagSettings, TrainSettings

ENCODER = "model"
ADAPTER = "adapter"
"""The folders a joint checkpoint, and its result, keep the two parts in."""


@dataclass(frozen=True)
class JointExample:
    """One training question with its candidate passages."""

    query: str
    """As the query encoder reads it (``TransformerEmbedder.query_input``)."""
    passages: np.ndarray
    """(k, dim): the passages' stored vectors."""
    rows: tuple[TokenRow, ...]
    """Per passage, the answer step's prompt with the answer, as the model's tokens."""


def train_joint(encoder_dir: Path | None, lm: Any, examples: Sequence[JointExample],
                settings: TrainSettings, rag: RagSettings, lora: LoraSettings, out: Path,
                progress: Progress | None = None, checkpoint: Checkpoint | None = None
                ) -> tuple[TrainReport, Any]:
    """Train a LoRA on ``lm`` (``lore.train.causal_lm.load_causal_lm``) and, unless
    ``encoder_dir`` is None, the sentence-transformers query encoder in it, on one loss; the
    encoder is saved to ``out/model``, the adapter (PEFT's format) to ``out/adapter``.
    Returns the report and the adapted model."""
    from sentence_transformers import SentenceTransformer

    with no_progress_bar():
        torch.manual_seed(settings.seed)
        saved = checkpoint.load() if checkpoint is not None else None
        encoder = None
        if encoder_dir is not None:
            source = saved.model_dir / ENCODER if saved else encoder_dir
            encoder = SentenceTransformer(str(source), device="cpu")
            encoder.max_seq_length = settings.max_tokens
            encoder.train()
        adapted = with_lora(lm, lora, saved.model_dir / ADAPTER if saved else None)
        adapted.train()
        groups: list[dict[str, Any]] = [
            {"params": [p for p in adapted.parameters() if p.requires_grad],
             "lr": lora.learning_rate}]
        if encoder is not None:
            groups.append({"params": list(encoder.parameters()), "lr": settings.learning_rate})

        def save(folder: Path) -> None:
            if encoder is not None:
                encoder.save(str(folder / ENCODER))
            adapted.save_pretrained(str(folder / ADAPTER), save_embedding_layers=False)

        batches = shuffled_batches(list(examples), settings.batch_size, settings.epochs,
                                   settings.seed)
        report = run_steps(groups, batches,
                           lambda batch: joint_loss(encoder, adapted, batch, rag, lora),
                           settings.learning_rate, settings.warmup, save, saved, checkpoint,
                           progress, settings.dtype, part_size=1)  # one question's activations
        save(out)
    adapted.eval()
    return report, adapted


def joint_loss(encoder: Any, lm: Any, batch: Sequence[JointExample], rag: RagSettings,
               lora: LoraSettings) -> torch.Tensor:
    retrieval = retrieval_logprobs(encoder, batch, rag.temperature)
    rows = [row for example in batch for row in example.rows]
    scores = answer_logprobs(lm, rows, lora.batch_tokens)
    lm_scores, tokens = padded_scores(batch, scores)
    return objective_loss(rag.objective, retrieval, lm_scores, tokens, rag.lm_temperature)


def retrieval_logprobs(encoder: Any, batch: Sequence[JointExample], temperature: float
                       ) -> torch.Tensor:
    """(B, k) log p_η(z | x) = log softmax(q · d / τ), padded passages at -inf; with no
    encoder, each question's one passage (the generator-only baseline) at log 1."""
    k = max(len(example.rows) for example in batch)
    present = torch.zeros(len(batch), k, dtype=torch.bool)
    for row, example in enumerate(batch):
        present[row, :len(example.rows)] = True
    if encoder is None:
        return torch.zeros(len(batch), k).masked_fill(~present, -torch.inf)
    features = encoder.preprocess([example.query for example in batch])
    queries = torch.nn.functional.normalize(encoder(features)["sentence_embedding"], dim=-1)
    passages = torch.zeros(len(batch), k, queries.shape[1])
    for row, example in enumerate(batch):
        passages[row, :len(example.rows)] = torch.from_numpy(
            np.asarray(example.passages, np.float32))
    scores = torch.einsum("bd,bkd->bk", queries.float(), passages) / temperature
    return torch.log_softmax(scores.masked_fill(~present, -torch.inf), dim=1)


def padded_scores(batch: Sequence[JointExample], scores: Sequence[torch.Tensor]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-token scores as (B, k, T), zero where a passage or token is missing, and the
    answer-token mask (B, T); ``scores`` holds the batch's rows in order."""
    k = max(len(example.rows) for example in batch)
    length = max(len(row) for row in scores)
    parts: list[torch.Tensor] = []
    tokens = torch.zeros(len(batch), length)
    at = 0
    for row, example in enumerate(batch):
        mine = scores[at:at + len(example.rows)]
        at += len(example.rows)
        size = len(mine[0])
        tokens[row, :size] = 1.0
        stacked = torch.stack([torch.nn.functional.pad(s, (0, length - len(s))) for s in mine])
        parts.append(torch.nn.functional.pad(stacked, (0, 0, 0, k - len(mine))))
    return torch.stack(parts), tokens


def held_out_loglik(encoder: Any, lm: Any, examples: Sequence[JointExample],
                    temperature: float, batch_tokens: int) -> float:
    """The mean over ``examples`` of log Σ_z p(z | x) p(y | x, z): how likely the system
    finds the answers of questions it did not train on."""
    if not examples:
        return float("nan")
    totals = []
    with torch.no_grad():
        for example in examples:
            retrieval = retrieval_logprobs(encoder, [example], temperature)[0]
            answer = torch.stack([scores.sum() for scores in
                                  answer_logprobs(lm, example.rows, batch_tokens)])
            totals.append(float(torch.logsumexp(retrieval + answer, dim=0)))
    return float(np.mean(totals))
