"""A cross-encoder's new head learns at its own rate."""

from __future__ import annotations

from transformers import BertConfig, BertForSequenceClassification

from lore.train.reranker import _parameter_groups
from lore.train.settings import TrainSettings


def test_the_new_head_gets_its_own_learning_rate() -> None:
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32)
    config.num_labels = 1
    model = BertForSequenceClassification(config)
    body, head = _parameter_groups(model, TrainSettings(learning_rate=2e-5,
                                                        head_learning_rate=1e-3))
    named = dict(model.named_parameters())
    head_names = {n for n, p in named.items() if any(p is q for q in head["params"])}
    assert head_names == {"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                          "classifier.weight", "classifier.bias"}
    assert head["lr"] == 1e-3 and "lr" not in body
    assert len(body["params"]) + len(head["params"]) == len(named)
    _, same = _parameter_groups(model, TrainSettings(learning_rate=2e-5))
    assert same["lr"] == 2e-5
