from __future__ import annotations

import math

import pytest
import torch

from lore.train.triplet import MARGINS, TripletLoss


def test_euclidean_hinge_on_each_negative() -> None:
    anchors = torch.tensor([[0.0, 0.0]])
    positives = torch.tensor([[3.0, 4.0]])            # distance 5
    negatives = torch.tensor([[[6.0, 8.0], [0.0, 1.0]]])  # distances 10 and 1
    got = TripletLoss(distance="euclidean", margin=2.0)(anchors, positives, negatives)
    assert math.isclose(float(got), (max(0, 5 - 10 + 2) + max(0, 5 - 1 + 2)) / 2)


def test_cosine_distance_and_its_default_margin() -> None:
    loss = TripletLoss(distance="cosine")
    assert loss.margin == MARGINS["cosine"]
    anchors, positives = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    orthogonal = torch.tensor([[[0.0, 1.0]]])           # cosine distance 1
    assert float(loss(anchors, positives, orthogonal)) == 0.0  # 0 - 1 + 0.5 < 0
    same = torch.tensor([[[2.0, 0.0]]])                 # cosine distance 0
    assert math.isclose(float(loss(anchors, positives, same)), 0.5, abs_tol=1e-6)


def test_a_triplet_needs_a_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        TripletLoss()(torch.ones(1, 2), torch.ones(1, 2), None)
