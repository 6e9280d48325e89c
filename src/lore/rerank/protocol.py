"""The Reranker seam: (query, passages) in, one relevance score per passage out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Reranker(Protocol):
    """Scores how relevant each passage is to a query, reading both together.

    Contract (checked by ``lore.testing.contracts.RerankerContract``):

    - ``score`` returns a ``(len(passages),)`` float32 array of finite scores, in the order of
      ``passages`` whatever order the backend computes them in; higher is more relevant.
      Scores compare within one call; their scale is the backend's own (a probability for a
      sigmoid cross-encoder, a log-odds for the LLM judge).
    - The same inputs give the same scores (up to float rounding).
    - Long passages are truncated to the backend's budget, never rejected; an empty list gives
      an empty array.
    - ``name`` identifies the backend and its model, as ``create_reranker`` accepts it.
    """

    name: str

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray: ...
