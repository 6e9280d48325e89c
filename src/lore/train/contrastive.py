"""Contrastive loss: pull positive pairs together, push negative pairs apart up to a margin."""

from __future__ import annotations

import torch
from torch import nn

from lore.train.similarity import Distance, distance


class ContrastiveLoss(nn.Module):
    """For each pair, ``d^2 / 2`` when it matches and ``max(0, margin - d)^2 / 2`` when it does
    not: a switch between pulling and pushing, where a negative farther than the margin costs
    nothing.

    Every positive is pulled to its anchor, so it forms tight clusters: suited to data whose
    relevant passages resemble each other (low variance), less to queries with varied ones.

    >>> loss = ContrastiveLoss(distance="cosine", margin=0.5)
    >>> value = loss(anchors, positives, negatives)   # (B, d), (B, d), (B, k, d) or None
    """

    citation = ("Hadsell, Chopra and LeCun, 'Dimensionality Reduction by Learning an "
                "Invariant Mapping', CVPR 2006")

    def __init__(self, distance: Distance = "cosine", margin: float = 0.5) -> None:
        super().__init__()
        self.distance: Distance = distance
        self.margin = margin

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor,
                negatives: torch.Tensor | None = None) -> torch.Tensor:
        pulled = distance(anchors, positives, self.distance).pow(2) / 2
        if negatives is None or not negatives.numel():
            return pulled.mean()
        apart = distance(anchors.unsqueeze(1), negatives, self.distance)
        pushed = torch.relu(self.margin - apart).pow(2) / 2
        return torch.cat([pulled, pushed.reshape(-1)]).mean()

    def get_config_dict(self) -> dict[str, object]:
        return {"distance": self.distance, "margin": self.margin}
