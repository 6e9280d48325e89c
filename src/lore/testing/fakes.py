"""Fakes shipped with lore, registered like real backends, for tests that need no model."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic bag-of-words vectors: no model, no randomness, same output in every process.

    Each normalised word (NFKC, lowercased) becomes a fixed pseudo-random vector drawn from
    SHA-256 of the word; a text's vector is the sum over its words, L2-normalised. Texts that
    share words are therefore closer than texts that share none, which is enough for tests
    of ranking and fusion.

    Example::

        embedder = HashEmbedder(dim=64)
        vectors = embedder.embed_documents(["red apples", "blue cars"])
        scores = vectors @ embedder.embed_query("apples")   # the first document scores higher
    """

    def __init__(self, dim: int = 64) -> None:
        if dim <= 0 or dim % 8:
            raise ValueError(f"dim must be a positive multiple of 8, got {dim}")
        self.dim = dim
        self.name = f"hash-{dim}"
        self.max_tokens = 512

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._embed(text)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed(text)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Whitespace-separated tokens."""
        return [len(text.split()) for text in texts]

    def _embed(self, text: str) -> np.ndarray:
        words = _WORD.findall(unicodedata.normalize("NFKC", text).lower()) or [""]
        total: np.ndarray = np.sum([word_vector(word, self.dim) for word in words], axis=0)
        norm = float(np.linalg.norm(total))
        if norm < 1e-9:  # a text without words (or whose words cancel): the empty text's vector
            total = word_vector("", self.dim)
            norm = float(np.linalg.norm(total))
        return (total / norm).astype(np.float32)


@lru_cache(maxsize=65_536)
def word_vector(word: str, dim: int) -> np.ndarray:
    """``dim`` values in [-1, 1) from SHA-256 of ``word`` (one digest per 8 values)."""
    digests = b"".join(hashlib.sha256(f"{block}:{word}".encode()).digest()
                       for block in range(dim // 8))
    values = np.frombuffer(digests, dtype="<u4").astype(np.float64)
    vector = values / 2.0**31 - 1.0
    vector.setflags(write=False)
    return vector


class OverlapReranker:
    """Scores a passage by the share of the query's words it contains: no model, instant.

    Words are normalised as ``HashEmbedder`` normalises them (NFKC, lowercased), so a test of
    ``lore.rerank.rerank`` can say which passage wins without running a model.

    Example::

        reranker = OverlapReranker()
        reranker.score("red apples", ["apples are red", "blue cars"])   # [1.0, 0.0]
    """

    name = "overlap"

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        wanted = set(_words(query))
        out = np.zeros(len(passages), dtype=np.float32)
        if wanted:
            for row, passage in enumerate(passages):
                out[row] = len(wanted & set(_words(passage))) / len(wanted)
        return out


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


class MemoryVectorSource:
    """Stands in for the store as a ``lore.store.protocol.VectorSource``: vectors in a dict.

    Counts its calls and the keys asked for, so a test can see an index re-score from it.

    Example::

        source = MemoryVectorSource()
        source.put(np.array([7]), np.ones((1, 4), np.float32))
        source(np.array([7])).shape      # (1, 4)
    """

    def __init__(self) -> None:
        self.rows: dict[int, np.ndarray] = {}
        self.calls = 0
        self.keys_asked = 0

    def put(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.rows.update(zip(np.asarray(keys).tolist(), np.asarray(vectors, np.float32),
                             strict=True))

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        from lore.errors import StoreError

        self.calls += 1
        self.keys_asked += len(keys)
        try:
            return np.stack([self.rows[key] for key in np.asarray(keys).tolist()])
        except KeyError as exc:
            raise StoreError(f"no vector for key {exc.args[0]}") from None
