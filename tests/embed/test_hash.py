from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lore.embed.protocol import Embedder
from lore.testing.contracts import EmbedderContract
from lore.testing.fakes import HashEmbedder


class TestHashEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self) -> Embedder:
        return HashEmbedder()


def test_name_and_dim() -> None:
    embedder = HashEmbedder(dim=32)
    assert (embedder.name, embedder.dim, embedder.max_tokens) == ("hash-32", 32, 512)
    assert embedder.embed_query("hello").shape == (32,)


def test_shared_words_are_closer() -> None:
    embedder = HashEmbedder()
    query = embedder.embed_query("red apples")
    docs = embedder.embed_documents(["Apples are red.", "Blue cars drive fast."])
    assert float(docs[0] @ query) > 0.5 > float(docs[1] @ query)


def test_normalises_case_and_width() -> None:
    embedder = HashEmbedder()
    np.testing.assert_array_equal(embedder.embed_query("ＡＰＰＬＥ"), embedder.embed_query("apple"))


def test_counts_whitespace_tokens() -> None:
    assert HashEmbedder().count_tokens(["one two  three", "", "猫坐在垫子上"]) == [3, 0, 1]


def test_same_vectors_in_another_process() -> None:
    code = ("from lore.testing.fakes import HashEmbedder; "
            "print(HashEmbedder().embed_query('stable across processes').tobytes().hex())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()
    here = HashEmbedder().embed_query("stable across processes").tobytes().hex()
    assert other == here


def test_rejects_bad_dim() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        HashEmbedder(dim=10)
