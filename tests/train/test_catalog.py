"""The catalog of trained models inside a knowledge base: names, publishing, resolving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lore.errors import ConfigError
from lore.train.catalog import (
    MANIFEST,
    TrainedModel,
    TrainingData,
    check_name,
    list_models,
    next_name,
    publish,
    resolve,
    staging_dir,
    trained_name,
)


def manifest(name: str, kind: str = "retriever", kb_id: str = "kb-1") -> TrainedModel:
    return TrainedModel(name, kind, "minilm", kb_id,  # type: ignore[arg-type]
                        TrainingData("pairs.jsonl", "abc", 10, 2), {"epochs": 1}, [0.5, 0.25],
                        {"before": {"ndcg@10": 0.5}, "after": {"ndcg@10": 0.6}}, 1.5)


def published(kb_dir: Path, name: str, kind: str = "retriever", kb_id: str = "kb-1"
              ) -> TrainedModel:
    staging = staging_dir(kb_dir, f"run-{name}")
    (staging / "model").mkdir()
    (staging / "checkpoint").mkdir()
    return publish(staging, manifest(name, kind, kb_id))


def test_a_published_model_is_listed_with_its_manifest_and_no_checkpoint(tmp_path: Path) -> None:
    model = published(tmp_path, "retriever-1")
    assert model.path == tmp_path / "models" / "retriever-1" and model.model_dir.is_dir()
    assert not (model.path / "checkpoint").exists()
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "models").iterdir())
    (listed,) = list_models(tmp_path)
    assert listed == model and listed.spec == "trained:retriever-1"
    assert listed.metrics["after"]["ndcg@10"] == 0.6 and listed.losses == [0.5, 0.25]


def test_names_count_up_per_kind_and_are_never_reused(tmp_path: Path) -> None:
    assert next_name(tmp_path, "retriever") == "retriever-1"
    published(tmp_path, "retriever-1")
    published(tmp_path, "retriever-2")
    published(tmp_path, "reranker-1", "reranker")
    assert next_name(tmp_path, "retriever") == "retriever-3"
    assert next_name(tmp_path, "reranker") == "reranker-2"
    with pytest.raises(ConfigError, match="already exists.*never overwritten"):
        check_name(tmp_path, "retriever-2")
    with pytest.raises(ConfigError, match="model name '../x'"):
        check_name(tmp_path, "../x")
    assert check_name(tmp_path, "scifact.v2") == "scifact.v2"


def test_staging_folders_and_broken_manifests_are_not_models(tmp_path: Path) -> None:
    published(tmp_path, "retriever-1")
    staging_dir(tmp_path, "retriever-abc")
    broken = tmp_path / "models" / "retriever-2"
    broken.mkdir()
    (broken / MANIFEST).write_text("{not json")
    assert [m.name for m in list_models(tmp_path)] == ["retriever-1"]


def test_resolving_names_what_exists_and_refuses_other_kinds_and_knowledge_bases(
        tmp_path: Path) -> None:
    published(tmp_path, "retriever-1")
    published(tmp_path, "reranker-1", "reranker")
    assert resolve(tmp_path, "trained:retriever-1", "kb-1", ("retriever",)).name == "retriever-1"
    with pytest.raises(ConfigError, match="no trained model 'nope'.*choose from retriever-1"):
        resolve(tmp_path, "trained:nope", "kb-1", ("retriever",))
    with pytest.raises(ConfigError, match="is a reranker, not a retriever"):
        resolve(tmp_path, "trained:reranker-1", "kb-1", ("retriever",))
    with pytest.raises(ConfigError, match="trained for another knowledge base.*name its folder"):
        resolve(tmp_path, "trained:retriever-1", "kb-2", ("retriever",))
    with pytest.raises(ConfigError, match="train one with `lore train head"):
        resolve(tmp_path, "trained:x", "kb-1", ("head",))


def test_the_manifest_is_plain_json_without_the_path(tmp_path: Path) -> None:
    model = published(tmp_path, "retriever-1")
    record = json.loads((model.path / MANIFEST).read_text())
    assert "path" not in record and record["data"]["digest"] == "abc"
    assert trained_name("trained:retriever-1") == "retriever-1" and trained_name("minilm") is None
