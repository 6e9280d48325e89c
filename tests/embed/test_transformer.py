from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lore.embed.protocol import Embedder
from lore.embed.registry import create_minilm
from lore.embed.transformer import TransformerEmbedder, _pad, read_model_info, read_pooling
from lore.errors import ConfigError
from lore.testing.contracts import EmbedderContract

VARIED = [
    "The cat sat on the mat.", "Stock markets fell sharply after the announcement.",
    "How much protein should an adult eat per day?", "def add(a, b):\n    return a + b",
    "Photosynthesis converts light energy into chemical energy.", "ERROR 500: server error",
    "Mount Everest is the highest mountain on Earth.", "SELECT id FROM users WHERE age > 30;",
    "Vaccines train the immune system to recognise pathogens.", "🙂 emoji and punctuation!!!",
    "Le chat est assis sur le tapis.", "Der Hund schläft im Garten.", "猫坐在垫子上。",
    "Bees are essential for pollinating crops.", "The database index speeds up queries.",
    "Quantum computers use qubits instead of bits.", "A balanced diet includes vegetables.",
    "He forgot his umbrella at the train station.", "Jupiter has dozens of moons.",
    "x", "The committee postponed the vote until Friday afternoon after a long debate " * 8,
    "Children learn languages faster than adults.", "Rust guarantees memory safety.",
    "Please restart the router and try again.", "Electric cars are becoming cheaper every year.",
    "The museum opens at nine in the morning.", "Coffee is linked to lower liver disease risk.",
    "The river flooded the village last spring.", "She plays the violin every evening.",
    "Machine learning models need lots of data.",
]


class TestMiniLM(EmbedderContract):
    @pytest.fixture
    def embedder(self, minilm: TransformerEmbedder) -> Embedder:
        return minilm


def test_minilm_identity(minilm: TransformerEmbedder) -> None:
    assert (minilm.name, minilm.dim, minilm.max_tokens) == ("minilm", 384, 254)
    assert minilm.info.pooling == "mean"
    assert minilm.count_tokens(["hello world", ""]) == [2, 0]


def test_bf16_and_fp32_vectors_agree(minilm: TransformerEmbedder) -> None:
    fp32 = create_minilm(dtype="float32").embed_documents(VARIED)
    bf16 = create_minilm(dtype="bfloat16").embed_documents(VARIED)
    cosine = (fp32 * bf16).sum(axis=1)
    assert cosine.min() >= 0.99, cosine


def test_query_path_matches_batch_path(minilm: TransformerEmbedder) -> None:
    """The unpadded single-query forward equals the padded batch forward of the same text."""
    batch = minilm.embed_documents(VARIED[:6])
    single = np.stack([minilm.embed_query(text) for text in VARIED[:6]])
    assert (batch * single).sum(axis=1).min() > 0.995


@pytest.mark.slow
def test_matches_sentence_transformers() -> None:
    """The reference implementation, in float32."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    embedder = create_minilm(dtype="float32")
    model = sentence_transformers.SentenceTransformer(str(embedder.model_dir), device="cpu")
    want = model.encode(VARIED, normalize_embeddings=True)
    got = embedder.embed_documents(VARIED)
    assert (want * got).sum(axis=1).min() > 0.9999


def test_construction_and_counting_do_not_load_torch() -> None:
    code = (
        "import sys\n"
        "from lore.embed.registry import create_minilm\n"
        "before = 'torch' in sys.modules\n"
        "embedder = create_minilm()\n"
        "embedder.count_tokens(['some text to count'])\n"
        "print(before, 'torch' in sys.modules, embedder.dim, embedder.max_tokens)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "384", "254"], "importing lore or building the embedder " \
        "imported torch"


def test_custom_directory_with_cls_pooling_and_prefixes(tmp_path: Path,
                                                        minilm: TransformerEmbedder) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (model_dir / name).symlink_to(minilm.model_dir / name)
    (model_dir / "1_Pooling").mkdir()
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 384, "pooling_mode_cls_token": True,
         "pooling_mode_mean_tokens": False}))
    embedder = TransformerEmbedder(model_dir, query_prefix="query: ", passage_prefix="passage: ")
    assert embedder.name == str(model_dir)
    assert embedder.info.pooling == "cls"
    assert embedder.info.max_seq_length == 512  # no sentence_bert_config.json: the model's own
    assert embedder.max_tokens == 512 - 2 - 2  # "passage:" is two word pieces
    cls = embedder.embed_documents(["the cat sat on the mat"])[0]
    mean = minilm.embed_documents(["passage: the cat sat on the mat"])[0]
    assert 0.2 < float(cls @ mean) < 0.99


def test_unsupported_module_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    (tmp_path / "modules.json").write_text(json.dumps(
        [{"type": "sentence_transformers.models.Transformer"},
         {"type": "sentence_transformers.models.Dense", "path": "2_Dense"}]))
    with pytest.raises(ConfigError, match="'Dense' is not supported"):
        read_model_info(tmp_path)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory or a hub id"):
        TransformerEmbedder(tmp_path / "nope")
    with pytest.raises(ConfigError, match="has no config.json"):
        TransformerEmbedder(tmp_path)


@pytest.mark.parametrize(("config", "want"), [
    ({}, "mean"),
    ({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, "mean"),
    ({"pooling_mode_cls_token": True}, "cls"),
    ({"pooling_mode_max_tokens": True}, "max"),
    ({"pooling_mode": "cls"}, "cls"),
])
def test_read_pooling(config: dict[str, object], want: str) -> None:
    assert read_pooling(config) == want


def test_read_pooling_rejects_combinations() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        read_pooling({"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True})
    with pytest.raises(ConfigError, match="not supported"):
        read_pooling({"pooling_mode_lasttoken": True})


def test_batch_tokens_do_not_change_vectors(minilm: TransformerEmbedder) -> None:
    small = TransformerEmbedder(minilm.model_dir, batch_tokens=64)
    small._encoder = minilm._model()
    cosine = (small.embed_documents(VARIED) * minilm.embed_documents(VARIED)).sum(axis=1)
    assert cosine.min() > 0.999, cosine
    with pytest.raises(ConfigError, match="batch_tokens must be positive"):
        TransformerEmbedder(minilm.model_dir, batch_tokens=0)


def test_batches_are_padded_to_a_few_widths() -> None:
    """Widths in steps of PAD_MULTIPLE, so the CPU kernels cached per shape stay few."""
    tokens, lengths = _pad([[7] * 17, [7] * 3], 0, limit=512)
    assert [len(row) for row in tokens] == [32, 32] and lengths == [17, 3]
    assert tokens[1] == [7] * 3 + [0] * 29
    assert len(_pad([[7] * 250], 0, limit=256)[0][0]) == 256  # never past the positions
    assert len(_pad([[7] * 32], 0, limit=512)[0][0]) == 32
