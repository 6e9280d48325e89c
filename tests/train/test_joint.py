"""The query encoder and the answering model trained on one loss (a real SmolLM2 and MiniLM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lore.config import EmbedConfig
from lore.embed.registry import create_embedder
from lore.embed.transformer import TransformerEmbedder
from lore.generate.local import LocalGenerator
from lore.generate.protocol import Message
from lore.models.gguf import resolve_gguf
from lore.rag_joint import answer_row
from lore.train.causal_lm import answer_logprobs, load_causal_lm, token_groups
from lore.train.joint import JointExample, held_out_loglik, padded_scores, train_joint
from lore.train.settings import LoraSettings, RagSettings, TrainSettings

FACTS = [
    ("What do owls hunt with?", "silent feathers",
     "Owls hunt at night with silent feathers and keen hearing.",
     "Owls hunt mice and voles, and sleep through the day in hollow trees."),
    ("What do glaciers carve?", "U-shaped valleys",
     "Glaciers grind slowly downhill and carve U-shaped valleys.",
     "Glaciers carve through mountains and leave lakes behind when they melt."),
    ("What do bees store honey in?", "wax combs",
     "Honey bees turn nectar into honey and store it in wax combs.",
     "Bees store honey for the winter, when no flowers bloom."),
    ("What do comets grow near the sun?", "tails of gas and dust",
     "Comets grow bright tails of gas and dust as they near the sun.",
     "Comets grow brighter as they near the sun, then fade as they leave."),
]


def test_rows_are_grouped_within_the_token_budget() -> None:
    rows = [([0] * n, 1, 2) for n in (5, 30, 10, 30, 12)]
    groups = list(token_groups(rows, 40))
    assert sorted(i for group in groups for i in group) == [0, 1, 2, 3, 4]
    assert all(len(g) * max(len(rows[i][0]) for i in g) <= 40 or len(g) == 1 for g in groups)


def test_scores_are_padded_per_passage_and_token() -> None:
    example = JointExample("q", np.zeros((2, 3)), (([1, 2], 1, 2), ([1, 2], 1, 2)))
    alone = JointExample("q", np.zeros((1, 3)), (([1, 2, 3], 1, 3),))
    scores = [torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-0.5, -0.25])]
    lm, tokens = padded_scores([example, alone], scores)
    assert lm.tolist() == [[[-1.0, 0.0], [-2.0, 0.0]], [[-0.5, -0.25], [0.0, 0.0]]]
    assert tokens.tolist() == [[1.0, 0.0], [1.0, 1.0]]


@pytest.fixture(scope="module")
def examples() -> list[JointExample]:
    """Each question with the passage that answers it and one on its subject that does not,
    in that order."""
    generator = LocalGenerator("smollm2")
    embedder = create_embedder(EmbedConfig(model="minilm"))
    out = []
    for question, answer, passage, other in FACTS:
        rows = tuple(answer_row(generator, [Message("user", f"Passage: {text}\nQuestion: "
                                                    f"{question}")], answer)
                     for text in (passage, other))
        out.append(JointExample(question, embedder.embed_documents([passage, other]), rows))
    return out


def test_the_model_learns_the_answer_and_where_its_turn_ends() -> None:
    generator = LocalGenerator("smollm2")
    tokens, start, end = answer_row(generator, [Message("user", "Say tides.")], "tides")
    assert generator.ends_turn(tokens[end - 1])
    assert generator.piece(tokens[end - 2]).decode().strip().endswith("es")


@pytest.mark.slow
def test_one_loss_teaches_the_model_the_answers_and_the_encoder_their_passages(
        examples: list[JointExample], tmp_path: Path) -> None:
    embedder = create_embedder(EmbedConfig(model="minilm"))
    assert isinstance(embedder, TransformerEmbedder)
    lm = load_causal_lm(resolve_gguf("smollm2"))
    with torch.no_grad():
        own_before = [float(answer_logprobs(lm, e.rows[:1])[0].sum()) for e in examples]
    before = held_out_loglik(None, lm, examples, 0.05, 2048)
    settings = TrainSettings(epochs=6, batch_size=2, learning_rate=1e-4, warmup=0.0,
                             dtype="float32")
    report, adapted = train_joint(embedder.model_dir, lm, examples, settings,
                                  RagSettings("rag-sequence", temperature=0.05),
                                  LoraSettings(rank=4, alpha=8, learning_rate=2e-3),
                                  tmp_path / "out")
    assert report.steps == 12 and np.mean(report.losses[-2:]) < np.mean(report.losses[:2])
    assert held_out_loglik(None, adapted, examples, 0.05, 2048) > before + 1.0
    with torch.no_grad():
        own_after = [float(answer_logprobs(adapted, e.rows[:1])[0].sum()) for e in examples]
    assert all(a > b for a, b in zip(own_after, own_before, strict=True))
    trained = TransformerEmbedder(tmp_path / "out" / "model")

    def own_prior(encoder: TransformerEmbedder) -> float:
        priors = []
        for example in examples:
            logits = example.passages @ encoder.embed_query(example.query) / 0.05
            priors.append(float(np.exp(logits[0] - np.logaddexp.reduce(logits))))
        return float(np.mean(priors))

    assert own_prior(trained) > own_prior(embedder)
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()
