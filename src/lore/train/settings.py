"""Training settings, apart from the trainers so that reading them does not import torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lore.config import Dtype

LossName = Literal["mnrl", "triplet", "contrastive", "bce", "listwise"]
"""The bi-encoder's losses (``LOSSES``) and the cross-encoder's (``lore.train.reranker``)."""


@dataclass(frozen=True)
class TrainSettings:
    loss: LossName = "mnrl"
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    head_learning_rate: float | None = None
    """A cross-encoder's new head (pooler and classifier, initialised at random) learns at
    this rate; None: at ``learning_rate`` like the rest."""
    warmup: float = 0.1
    """Share of the steps over which the learning rate rises from 0."""
    seed: int = 0
    max_tokens: int = 256
    """Texts are cut to this many tokens (MiniLM reads 256)."""
    dtype: Dtype = "auto"
    """``auto``: the forward pass in bfloat16 under autocast where the CPU has native bf16
    matmuls (``lore.models.dtype``), else float32; the weights stay float32."""


Objective = Literal["rag-sequence", "rag-token", "replug"]
"""What trains retrieval from the answering model (``lore.train.rag_objectives``)."""
OBJECTIVES: tuple[Objective, ...] = ("rag-sequence", "rag-token", "replug")
DEFAULT_TEMPERATURE = 0.05
"""τ of the retriever's softmax over cosines: MiniLM's cosines of one question's passages lie
within a few tenths of each other, and τ = 1 would make p(z | x) nearly uniform."""
DEFAULT_LM_TEMPERATURE = 1.0
"""REPLUG's β: Q_LM(z) = softmax(log p(y | x, z) / β)."""


@dataclass(frozen=True)
class RagSettings:
    objective: Objective = "rag-sequence"
    temperature: float = DEFAULT_TEMPERATURE
    lm_temperature: float = DEFAULT_LM_TEMPERATURE


Part = Literal["query-encoder", "joint", "generator"]
"""What ``lore train rag`` trains (``RagTraining.train``)."""
PARTS: tuple[Part, ...] = ("query-encoder", "joint", "generator")

DEFAULT_BATCH_TOKENS = 2048
"""Padded tokens per forward pass of the answering model: rows are grouped up to this many."""
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear map of a Qwen2 or Llama layer: what the adapter may adapt."""


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    """The adapter's output is scaled by alpha / rank."""
    layers: int | None = None
    """Adapt only the last this many layers; None: every layer. Layers below the first
    adapted one carry no gradient, so backpropagation stops there."""
    learning_rate: float = 1e-4
    modules: tuple[str, ...] = LORA_MODULES
    batch_tokens: int = DEFAULT_BATCH_TOKENS
