"""Training the query side of the dense retriever from the answering model, with the passage
side and the stored vectors frozen: the index stays valid, nothing is re-embedded.

Each example is one question with its candidate passages, as their stored (frozen, unit)
vectors, and the answering model's per-token log-probabilities of the answer given each
passage (``lore.train.lm_scores``). The retriever's distribution over a question's passages is
softmax(q(x) · d(z) / τ), with q the trainable encoder's unit query vector; the loss is one of
``lore.train.rag_objectives``. The loop, checkpoints and progress are ``lore.train.loop``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lore.models.pretrained import no_progress_bar
from lore.train.checkpoint import Checkpoint
from lore.train.lm_scores import Candidates
from lore.train.loop import Progress, TrainReport, run_steps, shuffled_batches
from lore.train.rag_objectives import objective_loss
from lore.train.settings import RagSettings, TrainSettings


def train_query_encoder(model_dir: Path, examples: Sequence[Candidates],
                        settings: TrainSettings, rag: RagSettings, out: Path,
                        progress: Progress | None = None,
                        checkpoint: Checkpoint | None = None) -> TrainReport:
    """Fine-tune the sentence-transformers model in ``model_dir`` as a query encoder on
    ``examples`` and save it to ``out``."""
    from sentence_transformers import SentenceTransformer

    with no_progress_bar():
        torch.manual_seed(settings.seed)
        saved = checkpoint.load() if checkpoint is not None else None
        model = SentenceTransformer(str(saved.model_dir if saved else model_dir), device="cpu")
        model.max_seq_length = settings.max_tokens
        model.train()
        batches = shuffled_batches(list(examples), settings.batch_size, settings.epochs,
                                   settings.seed)
        report = run_steps(model.parameters(), batches,
                           lambda batch: batch_loss(model, batch, rag),
                           settings.learning_rate, settings.warmup,
                           lambda folder: model.save(str(folder)), saved, checkpoint,
                           progress, settings.dtype)
        model.save(str(out))
    return report


def batch_loss(model: Any, batch: Sequence[Candidates], rag: RagSettings) -> torch.Tensor:
    features = model.preprocess([example.query for example in batch])
    queries = torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)
    passages, lm, tokens, present = padded(batch)
    scores = torch.einsum("bd,bkd->bk", queries.float(), passages) / rag.temperature
    retrieval = torch.log_softmax(scores.masked_fill(~present, -torch.inf), dim=1)
    return objective_loss(rag.objective, retrieval, lm, tokens, rag.lm_temperature)


def padded(batch: Sequence[Candidates]
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch's passages (B, k, dim), per-token scores (B, k, T), answer-token mask
    (B, T) and passage mask (B, k), padded to the batch's largest k and T."""
    k = max(len(example.passages) for example in batch)
    length = max(example.lm.shape[1] for example in batch)
    dim = batch[0].passages.shape[1]
    passages = torch.zeros(len(batch), k, dim)
    lm = torch.zeros(len(batch), k, length, dtype=torch.float64)
    tokens = torch.zeros(len(batch), length, dtype=torch.float64)
    present = torch.zeros(len(batch), k, dtype=torch.bool)
    for row, example in enumerate(batch):
        count, size = example.lm.shape
        passages[row, :count] = torch.from_numpy(np.asarray(example.passages, np.float32))
        lm[row, :count, :size] = torch.from_numpy(example.lm)
        tokens[row, :size] = 1.0
        present[row, :count] = True
    return passages, lm.float(), tokens.float(), present
