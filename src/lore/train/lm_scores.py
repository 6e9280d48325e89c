"""What the answering model thinks of each retrieved passage: log p(answer | question,
passage), token by token, kept on disk so that no passage is ever scored twice.

Scoring is the costly part of training retrieval from the language model (one prefill per
passage), so the scores are appended to a JSON-lines file as they are made; an interrupted
run reads them back and scores only what is missing. A score is keyed by everything it
depends on: the model, the prompt template, the question, the answer and the passage text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lore.errors import ConfigError


@dataclass(frozen=True)
class Candidates:
    """One training question: its passages as vectors, and the model's scores of them."""

    query: str
    """As the query encoder reads it (``TransformerEmbedder.query_input``)."""
    passages: np.ndarray
    """(k, dim): the passages' stored vectors."""
    lm: np.ndarray
    """(k, T): log p(answer token t | question, passage), zero past the answer's end."""


def score_key(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8") + b"\x00")
    return hasher.hexdigest()[:32]


class ScoreCache:
    """Per-token log-probabilities by ``score_key``, in a JSON-lines file.

    >>> cache = ScoreCache(folder / "lm-scores.jsonl")
    >>> cache.get(key) is None or cache.get(key).sum() <= 0
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._scores: dict[str, np.ndarray] = {}
        if path.is_file():
            self._read()

    def __len__(self) -> int:
        return len(self._scores)

    def get(self, key: str) -> np.ndarray | None:
        return self._scores.get(key)

    def put(self, scores: Mapping[str, Sequence[float] | np.ndarray]) -> None:
        """Record ``scores`` and append them to the file (flushed, so a kill keeps them)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for key, values in scores.items():
                array = np.asarray(values, dtype=np.float64)
                self._scores[key] = array
                out.write(json.dumps({"key": key, "logprobs": array.round(5).tolist()}) + "\n")
            out.flush()

    def _read(self) -> None:
        data = self.path.read_bytes()
        whole = data[:data.rfind(b"\n") + 1]
        if len(whole) < len(data):  # a last line cut by a kill: dropped, and scored again
            with self.path.open("r+b") as file:
                file.truncate(len(whole))
        for number, line in enumerate(whole.decode("utf-8").splitlines(), start=1):
            try:
                record = json.loads(line)
                self._scores[record["key"]] = np.asarray(record["logprobs"], dtype=np.float64)
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f"{self.path}:{number} is not a score record; delete "
                                  f"{self.path} to score again") from None
