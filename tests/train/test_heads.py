"""Learned scoring heads: numpy inference matches the trained torch module, an untrained head
ranks as cosine does, and training learns what cosine misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lore.errors import ConfigError
from lore.rerank.heads import HEAD_KINDS, ScoringHead, load_head, save_head
from lore.train.heads import (
    BiAttentionHead,
    InteractiveHead,
    VectorExample,
    train_head,
)
from lore.train.settings import TrainSettings

DIM = 16


def unit(rows: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = rows / np.linalg.norm(rows, axis=-1, keepdims=True)
    return scaled.astype(np.float32)


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_numpy_inference_matches_the_torch_module(kind: str) -> None:
    torch.manual_seed(1)
    module = BiAttentionHead(DIM, 8) if kind == "biattention" else InteractiveHead(DIM, 8)
    for parameter in module.parameters():  # non-zero everywhere, unlike a fresh head
        torch.nn.init.normal_(parameter, std=0.3)
    rng = np.random.default_rng(0)
    query, passages = unit(rng.normal(size=DIM)), unit(rng.normal(size=(5, DIM)))
    with torch.no_grad():
        want = module(torch.from_numpy(query)[None], torch.from_numpy(passages)[None])[0]
    head = ScoringHead(kind, module.weights())  # type: ignore[arg-type]
    got = head.score_vectors(query, passages) - passages @ query
    assert np.allclose(got, want.numpy(), atol=1e-5) and head.dim == DIM


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_an_untrained_head_ranks_as_cosine(kind: str) -> None:
    module = BiAttentionHead(DIM, 8) if kind == "biattention" else InteractiveHead(DIM, 8)
    head = ScoringHead(kind, module.weights())  # type: ignore[arg-type]
    rng = np.random.default_rng(2)
    query, passages = unit(rng.normal(size=DIM)), unit(rng.normal(size=(7, DIM)))
    assert np.allclose(head.score_vectors(query, passages), passages @ query, atol=1e-6)



def test_scoring_leaves_the_blas_thread_count_as_it_was() -> None:
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info()]
    head = ScoringHead("biattention", BiAttentionHead(DIM, 8).weights())
    rng = np.random.default_rng(3)
    head.score_vectors(unit(rng.normal(size=DIM)), unit(rng.normal(size=(7, DIM))))
    assert [pool["num_threads"] for pool in threadpool_info()] == before

def marked_examples(count: int, seed: int) -> list[VectorExample]:
    """Relevance lives in four key dimensions, where a positive agrees with its query; the
    hard negatives agree on the other twelve instead, so cosine prefers them."""
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        query = unit(rng.normal(size=DIM))
        positive = rng.normal(scale=0.3, size=DIM)
        positive[:4] = query[:4] * 2
        negatives = query + rng.normal(scale=0.1, size=(3, DIM))
        negatives[:, :4] = rng.normal(scale=0.3, size=(3, 4))
        examples.append(VectorExample(query, unit(positive), unit(negatives)))
    return examples


def top1(score: object, examples: list[VectorExample]) -> float:
    hits = 0
    for example in examples:
        passages = np.vstack([example.positive[None], example.negatives])
        hits += int(np.argmax(score(example.query, passages)) == 0)  # type: ignore[operator]
    return hits / len(examples)


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_training_learns_what_cosine_misses(kind: str, tmp_path: Path) -> None:
    train, test = marked_examples(256, seed=0), marked_examples(64, seed=1)
    head, report = train_head(kind, train, TrainSettings(epochs=8, batch_size=32,  # type: ignore[arg-type]
                                                         learning_rate=1e-2))
    cosine = top1(lambda q, p: p @ q, test)
    assert report.steps == 64 and np.mean(report.losses[-8:]) < np.mean(report.losses[:8])
    assert top1(head.score_vectors, test) >= cosine + 0.3
    save_head(head, tmp_path / "head")
    loaded = load_head(tmp_path / "head")
    q, p = test[0].query, test[0].negatives
    assert np.array_equal(loaded.score_vectors(q, p), head.score_vectors(q, p))


def test_a_folder_without_a_head_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no readable scoring head.*lore train head"):
        load_head(tmp_path)
    with pytest.raises(ConfigError, match="unknown head 'mlp'"):
        train_head("mlp", marked_examples(4, 0), TrainSettings())  # type: ignore[arg-type]
