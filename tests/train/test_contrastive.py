from __future__ import annotations

import math

import torch

from lore.train.contrastive import ContrastiveLoss


def test_pulls_positives_and_pushes_negatives_only_inside_the_margin() -> None:
    loss = ContrastiveLoss(distance="euclidean", margin=2.0)
    anchors = torch.tensor([[0.0, 0.0]])
    positives = torch.tensor([[0.0, 1.0]])                # d = 1: costs 1/2
    negatives = torch.tensor([[[0.0, 1.5], [0.0, 3.0]]])  # d = 1.5: (0.5)^2/2; d = 3: 0
    got = float(loss(anchors, positives, negatives))
    assert math.isclose(got, (0.5 + 0.125 + 0.0) / 3, rel_tol=1e-6)


def test_without_negatives_only_the_pull_counts() -> None:
    loss = ContrastiveLoss(distance="cosine", margin=0.5)
    anchors, positives = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert math.isclose(float(loss(anchors, positives)), 0.5)  # cosine distance 1: 1/2
    assert loss.get_config_dict() == {"distance": "cosine", "margin": 0.5}
