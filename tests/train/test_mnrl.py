from __future__ import annotations

import math

import torch

from lore.train.mnrl import MultipleNegativesRankingLoss


def unit(*rows: list[float]) -> torch.Tensor:
    tensor = torch.tensor(rows, dtype=torch.float32)
    normed: torch.Tensor = tensor / tensor.norm(dim=1, keepdim=True)
    return normed


def test_matches_cross_entropy_over_every_passage_in_the_batch() -> None:
    queries, positives = unit([1.0, 0.0], [0.0, 1.0]), unit([1.0, 0.2], [0.1, 1.0])
    negatives = unit([0.7, 0.7], [1.0, -1.0]).reshape(2, 1, 2)
    passages = torch.cat([positives, negatives.reshape(2, 2)])
    expected = 0.0
    for row in range(2):
        logits = [20.0 * float(queries[row] @ passage) for passage in passages]
        expected += -(logits[row] - math.log(sum(math.exp(v) for v in logits)))
    got = MultipleNegativesRankingLoss(scale=20.0)(queries, positives, negatives)
    assert math.isclose(float(got), expected / 2, rel_tol=1e-5)


def test_training_on_it_moves_each_query_toward_its_positive() -> None:
    torch.manual_seed(0)
    queries = torch.randn(8, 16, requires_grad=True)
    positives = torch.randn(8, 16)
    loss = MultipleNegativesRankingLoss()
    optimizer = torch.optim.SGD([queries], lr=0.5)
    first = float(loss(queries, positives).detach())
    for _ in range(50):
        optimizer.zero_grad()
        loss(queries, positives).backward()
        optimizer.step()
    assert float(loss(queries, positives).detach()) < first / 4
    best = (torch.nn.functional.normalize(queries, dim=1)
            @ torch.nn.functional.normalize(positives, dim=1).T).argmax(dim=1)
    assert best.tolist() == list(range(8))


def test_it_says_what_it_is() -> None:
    loss = MultipleNegativesRankingLoss(scale=10.0)
    assert loss.get_config_dict() == {"scale": 10.0} and "Henderson" in loss.citation
