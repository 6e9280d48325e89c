"""Training the question router of a knowledge base (``lore train router``): label each
traced question with the strategy that answered it best, hold some questions out, fit the
classifier on the rest (``lore.query.classifier``), and publish it in the catalog with its
held-out accuracy beside the rule router's."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lore.errors import ConfigError
from lore.query.classifier import (
    Labelled,
    RouterModel,
    features,
    fit,
    labels_from_traces,
    read_traces,
)
from lore.query.router import route
from lore.train.catalog import TrainedModel, TrainingData, next_name, publish, staging_dir

if TYPE_CHECKING:
    from lore.api import KnowledgeBase

MIN_QUESTIONS = 20
"""Fewer labelled questions than this cannot say which strategy suits which question."""


def train_router(kb: KnowledgeBase, traces: Sequence[Path], held_out: float = 0.2
                 ) -> TrainedModel:
    """Fit a router on the traces and add it to ``kb``'s catalog as ``router-<n>``.

    Questions no strategy answered (F1 0 in every trace) are left out of the fit: labelled
    with the cheapest strategy by the tie rule, they would teach the router that the
    cheapest suits the hardest questions. The held-out metrics count them."""
    started = time.perf_counter()
    labelled = labels_from_traces(read_traces(traces))
    if len(labelled) < MIN_QUESTIONS:
        raise ConfigError(f"{len(labelled)} questions are answered in every trace; a router "
                          f"needs {MIN_QUESTIONS} or more")
    train, test = _split(labelled, held_out)
    strategies = sorted({item.strategy for item in labelled})
    embed = kb.embedder.embed_query
    model, train = fit_router(train, strategies, embed)
    predicted = [model.route(item.question, embed(item.question)).strategy for item in test]
    rules = [route(i.question).strategy for i in test]
    metrics = {"before": {"accuracy": label_accuracy(rules, test), "f1": routed_f1(rules, test)},
               "after": {"accuracy": label_accuracy(predicted, test),
                         "f1": routed_f1(predicted, test)},
               **{f"always {name}": {"f1": routed_f1([name] * len(test), test)}
                  for name in strategies}}
    digest = hashlib.sha256("\n".join(f"{i.id}\t{i.strategy}" for i in labelled)
                            .encode()).hexdigest()[:16]
    staging = staging_dir(kb.directory, f"router-{digest}")
    model.save(staging / "model")
    shares = {name: sum(i.strategy == name for i in labelled) / len(labelled)
              for name in strategies}
    manifest = TrainedModel(
        name=next_name(kb.directory, "router"), kind="router", base="rules",
        kb_id=kb.identity(),
        data=TrainingData(", ".join(str(p) for p in traces), digest, len(train), len(test)),
        settings={"strategies": strategies, "label_shares": shares, "held_out": held_out},
        losses=[], metrics=metrics, seconds=time.perf_counter() - started)
    return publish(staging, manifest)


def _split(labelled: Sequence[Labelled], share: float) -> tuple[list[Labelled], list[Labelled]]:
    """A fixed share of the questions, chosen by a hash of their ids, is held out."""
    def held(item: Labelled) -> bool:
        return int(hashlib.sha256(item.id.encode()).hexdigest()[:8], 16) / 16**8 < share
    return [i for i in labelled if not held(i)], [i for i in labelled if held(i)]


def fit_router(labelled: Sequence[Labelled], strategies: Sequence[str],
               embed_query: Callable[[str], np.ndarray]) -> tuple[RouterModel, list[Labelled]]:
    """The router fitted on the questions of ``labelled`` some strategy answered, and those
    questions (see ``train_router``)."""
    answered = [item for item in labelled if max(item.f1.values()) > 0]
    if not answered:
        raise ConfigError("no strategy answered any of the training questions (every F1 is "
                          "0): the traces cannot say which strategy suits which question")
    rows = np.stack([features(i.question, embed_query(i.question)) for i in answered])
    return fit(rows, [item.strategy for item in answered], strategies), answered


def label_accuracy(predicted: Sequence[str], truth: Sequence[Labelled]) -> float:
    if not truth:
        return float("nan")
    return sum(p == t.strategy for p, t in zip(predicted, truth, strict=True)) / len(truth)


def routed_f1(predicted: Sequence[str], truth: Sequence[Labelled]) -> float:
    """Mean F1 over the held-out questions had each gone where ``predicted`` sends it; a
    question sent to a strategy no trace holds is left out."""
    scores = [t.f1[p] for p, t in zip(predicted, truth, strict=True) if p in t.f1]
    return sum(scores) / len(scores) if scores else float("nan")
