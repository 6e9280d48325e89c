"""Triplet loss: the positive closer to the anchor than the negative, by a margin."""

from __future__ import annotations

import torch
from torch import nn

from lore.train.similarity import Distance, distance

MARGINS: dict[Distance, float] = {"euclidean": 5.0, "cosine": 0.5}
"""Default margin per distance (Euclidean distances of unnormalised embeddings run larger)."""


class TripletLoss(nn.Module):
    """``max(0, d(a, p) - d(a, n) + margin)`` averaged over triplets.

    It asks only that each negative sit farther than the positive, not that all positives
    cluster: it tolerates queries whose relevant passages differ widely (large intra-class
    variance), at the price of learning from one negative per anchor at a time.

    >>> loss = TripletLoss(distance="cosine")
    >>> value = loss(anchors, positives, negatives)   # (B, d), (B, d), (B, k, d)
    """

    citation = ("Schroff, Kalenichenko and Philbin, 'FaceNet: A Unified Embedding for Face "
                "Recognition and Clustering', CVPR 2015")

    def __init__(self, distance: Distance = "euclidean", margin: float | None = None) -> None:
        super().__init__()
        self.distance: Distance = distance
        self.margin = MARGINS[distance] if margin is None else margin

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor,
                negatives: torch.Tensor | None = None) -> torch.Tensor:
        if negatives is None or not negatives.numel():
            raise ValueError("the triplet loss needs a negative for each anchor")
        near = distance(anchors, positives, self.distance).unsqueeze(1)  # (B, 1)
        far = distance(anchors.unsqueeze(1), negatives, self.distance)   # (B, k)
        return torch.relu(near - far + self.margin).mean()

    def get_config_dict(self) -> dict[str, object]:
        return {"distance": self.distance, "margin": self.margin}
