"""The Embedder seam: text in, unit-length float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns text into unit-length vectors; cosine similarity is then a dot product.

    Contract (checked by ``lore.testing.contracts.EmbedderContract``):

    - ``embed_documents`` returns a ``(len(texts), dim)`` float32 array with unit rows, in the
      order of ``texts``, whatever order the backend computes them in.
    - ``embed_query`` returns a ``(dim,)`` float32 unit vector. Asymmetric models (e5) apply
      their query prefix here and their passage prefix in ``embed_documents``.
    - ``count_tokens`` counts in the model's own tokenizer, without special tokens, so the
      chunker can pack text to ``max_tokens``.
    - ``name`` identifies the model and its settings that change vectors; the store records it.
    """

    name: str
    dim: int
    max_tokens: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...
