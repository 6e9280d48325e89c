"""The similarity and distance functions the losses are written over."""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional

Distance = Literal["cosine", "euclidean"]


def cosine_matrix(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of ``left`` with every row of ``right``."""
    return functional.normalize(left, dim=-1) @ functional.normalize(right, dim=-1).T


def distance(left: torch.Tensor, right: torch.Tensor, kind: Distance) -> torch.Tensor:
    """Row-wise distance: ``1 - cos`` (in [0, 2]) or the Euclidean norm of the difference."""
    if kind == "cosine":
        return 1.0 - functional.cosine_similarity(left, right, dim=-1)
    norm: torch.Tensor = torch.linalg.vector_norm(left - right, dim=-1)
    return norm
