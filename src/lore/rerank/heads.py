"""Learned scoring heads: rescoring a query's hits from the vectors already stored, so
reranking costs no model call and no extra encoding.

Two heads, each added to the cosine similarity it corrects (trained from zero, so an untrained
head ranks exactly as cosine does), with h the query's vector and d a passage's:

- ``biattention``: ``hᵀ W₁ tanh(W₂ [h; d] + b)``, a bilinear read of the query against a
  learned view of the pair;
- ``interactive``: ``FFN([h; d; h ⊙ d; h − d])``, a two-layer network over the pair's
  interaction features (ESIM-style matching; Chen et al., 2017).

Inference is numpy: a few small matrix products for the candidates of one query. The weights
are ``head.npz`` beside ``head.json`` (kind and dimension).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from threadpoolctl import ThreadpoolController

from lore.errors import ConfigError

HeadKind = Literal["biattention", "interactive"]
HEAD_KINDS: tuple[HeadKind, ...] = get_args(HeadKind)
WEIGHTS, CONFIG = "head.npz", "head.json"
_NAMES: dict[str, tuple[str, ...]] = {
    "biattention": ("w1", "w2", "b"),
    "interactive": ("w_hidden", "b_hidden", "w_out", "b_out"),
}


@dataclass(frozen=True)
class ScoringHead:
    """A trained head; ``score_vectors`` is what search calls."""

    kind: HeadKind
    weights: dict[str, np.ndarray]
    name: str = "head"

    @property
    def dim(self) -> int:
        key = "w2" if self.kind == "biattention" else "w_hidden"
        return int(self.weights[key].shape[1]) // (2 if self.kind == "biattention" else 4)

    @functools.cached_property
    def _split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The interactive head's first layer as (W_h + W_m), (W_d - W_m), W_p, transposed
        to (d, hidden) and contiguous."""
        w = self.weights["w_hidden"]
        dim = w.shape[1] // 4
        w_h, w_d, w_p, w_m = (w[:, i * dim:(i + 1) * dim] for i in range(4))
        return tuple(np.ascontiguousarray(part.T, dtype=np.float32)  # type: ignore[return-value]
                     for part in (w_h + w_m, w_d - w_m, w_p))

    def score_vectors(self, query: np.ndarray, passages: np.ndarray) -> np.ndarray:
        """Scores of ``passages`` (n, d) for ``query`` (d,): cosine plus the head's
        correction; both sides are unit vectors, as lore stores them."""
        query = query.astype(np.float32, copy=False)
        passages = passages.astype(np.float32, copy=False)
        # Products this small finish on one thread before BLAS's other threads wake up.
        with _blas().limit(limits=1, user_api="blas"):
            scores: np.ndarray = (passages @ query + self._correction(query, passages))
        return scores.astype(np.float32)

    def _correction(self, h: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Each head's first layer split into its query and passage halves, so the query's
        share is computed once and each passage costs one (n, d) x (d, hidden) product."""
        w = self.weights
        dim = h.shape[0]
        if self.kind == "biattention":
            w2 = w["w2"]
            view = np.tanh(d @ w2[:, dim:].T + (w2[:, :dim] @ h + w["b"]))
            bilinear: np.ndarray = view @ (w["w1"].T @ h)
            return bilinear
        # W [h; d; h*d; h-d] = (W_h + W_m) h + (W_d - W_m + W_p * h) d
        query_part, passage_part, product_part = self._split
        per_passage = passage_part + product_part * h[:, None]  # (d, hidden)
        hidden = np.maximum(d @ per_passage + (h @ query_part + w["b_hidden"]), 0.0)
        out: np.ndarray = hidden @ w["w_out"] + w["b_out"]
        return out


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()  # finds numpy's BLAS once; limiting it later is cheap


def save_head(head: ScoringHead, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / WEIGHTS, **head.weights)  # type: ignore[arg-type]
    (folder / CONFIG).write_text(json.dumps({"kind": head.kind, "dim": head.dim}) + "\n")


def load_head(folder: Path, name: str = "head") -> ScoringHead:
    """Read a head saved by ``save_head``.

    Raises:
        ConfigError: the folder holds no head, or its weights do not match its kind.
    """
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        with np.load(folder / WEIGHTS) as stored:
            weights = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as error:
        raise ConfigError(f"{folder} holds no readable scoring head ({error}); train one "
                          "with `lore train head`") from None
    kind = config.get("kind")
    if kind not in HEAD_KINDS or set(weights) != set(_NAMES[kind]):
        raise ConfigError(f"{folder / CONFIG}: head kind {kind!r} with weights "
                          f"{sorted(weights)} is not one lore reads ({', '.join(HEAD_KINDS)})")
    return ScoringHead(kind, weights, name)
