from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lore.embed.registry import create_minilm
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError
from lore.train.loop import linear_schedule
from lore.train.pairs import Pair
from lore.train.settings import TrainSettings
from lore.train.trainer import (
    _loss,
    batches,
    train_bi_encoder,
)


def test_a_batch_holds_each_query_once_and_repeats_wait() -> None:
    pairs = [Pair("q1", f"p{i}") for i in range(3)] + [Pair(f"q{i}", "p") for i in range(2, 6)]
    planned = batches(pairs, TrainSettings(batch_size=4, epochs=2, seed=1))
    for batch in planned:
        queries = [pair.query for pair in batch]
        assert len(queries) == len(set(queries)) and len(batch) <= 4
    per_epoch = sum(len(b) for b in planned) / 2
    assert per_epoch == len(pairs)  # nothing dropped, each epoch sees every pair


def test_the_learning_rate_rises_then_falls_to_zero() -> None:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = linear_schedule(optimizer, steps=10, warmup=0.2)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:2] == [0.5, 1.0] and rates[-1] == pytest.approx(0.125)
    assert rates == sorted(rates[:2]) + sorted(rates[2:], reverse=True)


def test_a_loss_that_cannot_train_on_the_pairs_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown loss 'hinge'"):
        _loss("hinge", [Pair("q", "p")])
    with pytest.raises(ConfigError, match="triplet loss needs negatives"):
        _loss("triplet", [Pair("q", "p")])


TOPICS = ["tides follow the moon", "bees make honey from nectar", "glaciers carve valleys",
          "volcanoes erupt lava", "comets have icy tails", "owls hunt at night",
          "coral builds reefs", "salmon swim upstream"]


@pytest.mark.slow
def test_training_brings_each_question_closer_to_its_passage(tmp_path: Path) -> None:
    pairs = [Pair(f"what is special about item {i}?", f"Item {i}: {topic}.")
             for i, topic in enumerate(TOPICS)]
    base = create_minilm(dtype="float32")
    report = train_bi_encoder(base.model_dir, pairs * 4, TrainSettings(
        batch_size=8, epochs=3, learning_rate=1e-4, seed=0), tmp_path / "trained")
    assert report.steps == 12 and np.mean(report.losses[-4:]) < np.mean(report.losses[:4])
    trained = TransformerEmbedder(tmp_path / "trained", dtype="float32")

    def hits(embedder: TransformerEmbedder) -> int:
        queries = embedder.embed_documents([p.query for p in pairs])
        passages = embedder.embed_documents([p.positive for p in pairs])
        return int(((queries @ passages.T).argmax(axis=1) == np.arange(len(pairs))).sum())

    assert hits(trained) >= hits(base) and hits(trained) == len(pairs)


@pytest.mark.slow
def test_the_triplet_loss_trains_on_the_pairs_that_have_a_negative(tmp_path: Path) -> None:
    pairs = [Pair(f"item {i}?", f"Item {i}: {topic}.",
                  (f"Item {i + 1}: {TOPICS[(i + 1) % 8]}.",) if i % 2 else ())
             for i, topic in enumerate(TOPICS)]
    report = train_bi_encoder(create_minilm(dtype="float32").model_dir, pairs,
                              TrainSettings(loss="triplet", batch_size=2), tmp_path / "t")
    assert report.steps == 2  # the four pairs with a negative, two a batch
