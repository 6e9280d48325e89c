"""A small classifier that routes questions, trained on traces of which strategy answered
dev questions best (Adaptive-RAG's idea: Jeong et al. 2024): the question's embedding and
a few cheap signals in, a strategy out. No model call: the embedding is the one dense search
computes anyway.

Labels come from ``lore eval qa --trace`` runs of several strategies over the same questions
(``labels_from_traces``): each question goes to the strategy with the best F1, a tie to the
one that cost fewer model calls. The classifier is multinomial logistic regression fitted by
full-batch gradient descent with L2, so the same traces always give the same router.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lore.errors import ConfigError
from lore.query.router import Route, route

SIGNALS = ("words", "rule:single", "rule:iterative", "rule:sql")
"""The cheap signals beside the embedding: the question's length and the rule router's
choice."""


def signals(question: str) -> np.ndarray:
    """Length (words / 20) and the rule router's choice, one-hot."""
    chosen = route(question).strategy
    return np.array([len(question.split()) / 20.0,
                     *(float(chosen == name.split(":")[1]) for name in SIGNALS[1:])],
                    dtype=np.float32)


def features(question: str, vector: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(vector, dtype=np.float32), signals(question)])


@dataclass(frozen=True)
class RouterModel:
    """Softmax regression over ``features``; ``strategies`` names the columns."""

    strategies: tuple[str, ...]
    weights: np.ndarray
    """(features, strategies)."""
    bias: np.ndarray

    def scores(self, rows: np.ndarray) -> np.ndarray:
        logits = np.atleast_2d(rows) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        probabilities: np.ndarray = odds / odds.sum(axis=1, keepdims=True)
        return probabilities

    def route(self, question: str, vector: np.ndarray) -> Route:
        chances = self.scores(features(question, vector))[0]
        best = int(np.argmax(chances))
        return Route(self.strategies[best],
                     f"the trained router's choice (p = {chances[best]:.2f})")

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "weights.npz", weights=self.weights, bias=self.bias)
        (folder / "router.json").write_text(json.dumps(
            {"strategies": list(self.strategies), "signals": list(SIGNALS)}, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> RouterModel:
        try:
            meta = json.loads((folder / "router.json").read_text())
            arrays = np.load(folder / "weights.npz")
        except (OSError, ValueError) as error:
            raise ConfigError(f"{folder} holds no readable router ({error}); train one with "
                              "`lore train router`") from None
        return cls(tuple(meta["strategies"]), arrays["weights"], arrays["bias"])


def fit(rows: np.ndarray, labels: Sequence[str], strategies: Sequence[str],
        l2: float = 1e-3, steps: int = 800, rate: float = 0.5) -> RouterModel:
    """Multinomial logistic regression by full-batch gradient descent: deterministic."""
    index = {name: i for i, name in enumerate(strategies)}
    target = np.zeros((len(labels), len(strategies)), dtype=np.float32)
    target[np.arange(len(labels)), [index[label] for label in labels]] = 1.0
    model = RouterModel(tuple(strategies), np.zeros((rows.shape[1], len(strategies)),
                                                   dtype=np.float32),
                        np.zeros(len(strategies), dtype=np.float32))
    weights, bias = model.weights, model.bias
    for _ in range(steps):
        error = RouterModel(model.strategies, weights, bias).scores(rows) - target
        weights = weights - rate * (rows.T @ error / len(rows) + l2 * weights)
        bias = bias - rate * error.mean(axis=0)
    return RouterModel(model.strategies, weights.astype(np.float32), bias.astype(np.float32))


@dataclass(frozen=True)
class Labelled:
    """A question and the strategy that answered it best."""

    id: str
    question: str
    strategy: str
    f1: Mapping[str, float]
    """Each traced strategy's F1 on the question."""


def labels_from_traces(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Labelled]:
    """Per question answered in every run, the strategy with the best F1 (a tie goes to the
    run with fewer model calls for that question, then to the strategy named first).

    ``runs`` maps a strategy to its trace records (``lore eval qa --trace`` lines).
    """
    by_id: dict[str, dict[str, Mapping[str, Any]]] = {}
    for strategy, records in runs.items():
        for record in records:
            by_id.setdefault(str(record["id"]), {})[strategy] = record
    order = list(runs)
    labelled = []
    for qid, answered in by_id.items():
        if len(answered) < len(runs):
            continue
        best = min(order, key=lambda s: (-float(answered[s]["scores"]["f1"] or 0.0),
                                         int(answered[s].get("model_calls", 0)),
                                         order.index(s)))
        labelled.append(Labelled(qid, str(answered[best]["question"]), best,
                                 {s: float(answered[s]["scores"]["f1"] or 0.0) for s in order}))
    return labelled


def read_traces(paths: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    """Trace files by the strategy their records name (one strategy per file)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        try:
            records = [json.loads(line) for line in path.read_text(encoding="utf-8")
                       .splitlines() if line.strip()]
        except (OSError, ValueError) as error:
            raise ConfigError(f"{path}: not a trace of `lore eval qa --trace` ({error})"
                              ) from None
        names = {str(record.get("strategy", "single")) for record in records}
        if len(names) != 1:
            raise ConfigError(f"{path}: a trace for training the router holds one "
                              f"strategy's answers; it holds {sorted(names) or 'none'}")
        runs.setdefault(names.pop(), []).extend(records)
    if len(runs) < 2:
        raise ConfigError("training the router needs traces of at least two strategies over "
                          "the same questions (`lore eval qa DIR --strategy NAME --trace F`)")
    return runs
