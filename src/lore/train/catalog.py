"""Trained models kept inside the knowledge base they were trained for: ``<kb>/models/<name>/``.

A model is a versioned directory that is never overwritten: ``model/`` (the weights, a
sentence-transformers or transformers directory, or a head's tensors) and ``manifest.json``
(``TrainedModel``: what it is, what it was trained from and on, its loss curve, its metrics
before and after). Training writes into a staging folder beside it and renames the finished
folder into place, so a crash never leaves half a model under a name.

A spec ``trained:<name>`` resolves only inside the knowledge base whose identity the manifest
records: a model copied into another knowledge base is refused, not silently used (its
directory can still be named as a plain path, on purpose).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from lore.errors import ConfigError

ModelKind = Literal["retriever", "reranker", "head", "router", "rag"]
TRAINED = "trained:"
"""The prefix of a spec naming a model of this knowledge base's catalog."""
MODELS_DIR = "models"
MANIFEST = "manifest.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class TrainingData:
    origin: str
    """The file or set the pairs came from."""
    digest: str
    """``PairSet.digest`` of the pairs trained on."""
    pairs: int
    held_out: int = 0
    """Pairs kept out of training to measure before and after."""


@dataclass(frozen=True)
class TrainedModel:
    """A trained model's manifest."""

    name: str
    kind: ModelKind
    base: str
    """What training started from: an embedder name (``minilm``), a directory, a spec."""
    kb_id: str
    """The identity of the knowledge base it was trained for (its store's ``kb_id``)."""
    data: TrainingData
    settings: dict[str, Any]
    losses: list[float]
    metrics: dict[str, dict[str, float]]
    """``{"before": {...}, "after": {...}}`` on the held-out pairs (and more sets when
    evaluated there)."""
    seconds: float
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    path: Path = field(default=Path(), compare=False)
    """The model's folder (not stored: it is where the manifest was read)."""

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def spec(self) -> str:
        return TRAINED + self.name

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("path")
        return record


def trained_name(spec: str | None) -> str | None:
    """``name`` for a ``trained:<name>`` spec, else None."""
    if spec and spec.startswith(TRAINED):
        return spec[len(TRAINED):]
    return None


def models_root(kb_dir: Path) -> Path:
    return kb_dir / MODELS_DIR


def list_models(kb_dir: Path) -> list[TrainedModel]:
    """Every finished model of the knowledge base, oldest first (staging folders and folders
    without a readable manifest are not models)."""
    root = models_root(kb_dir)
    models = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            models.append(read_manifest(folder))
        except ConfigError:
            continue
    return sorted(models, key=lambda model: (model.created, model.name))


def read_manifest(folder: Path) -> TrainedModel:
    try:
        record = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        record["data"] = TrainingData(**record["data"])
        return TrainedModel(**record, path=folder)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ConfigError(f"{folder / MANIFEST} is not a readable model manifest ({error}); "
                          "delete the folder or train the model again") from None


def next_name(kb_dir: Path, kind: ModelKind) -> str:
    """``<kind>-<n>``, one past the highest ``n`` of that kind: names are never reused."""
    root = models_root(kb_dir)
    taken = [folder.name for folder in root.iterdir()] if root.is_dir() else []
    numbers = [int(match.group(1)) for name in taken
               if (match := re.fullmatch(rf"{kind}-(\d+)", name))]
    return f"{kind}-{max(numbers, default=0) + 1}"


def check_name(kb_dir: Path, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit")
    if (models_root(kb_dir) / name).exists():
        raise ConfigError(f"a model named {name!r} already exists in {models_root(kb_dir)}; "
                          "trained models are never overwritten: choose another --name")
    return name


def staging_dir(kb_dir: Path, key: str) -> Path:
    """The folder a run writes into; ``key`` names the run (data, settings, base), so an
    interrupted run finds its checkpoint again."""
    folder = models_root(kb_dir) / f".staging-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def publish(staging: Path, model: TrainedModel) -> TrainedModel:
    """Write the manifest and move the finished model to ``models/<name>`` in one rename."""
    final = staging.parent / model.name
    if final.exists():
        raise ConfigError(f"a model named {model.name!r} already exists in {staging.parent}")
    shutil.rmtree(staging / "checkpoint", ignore_errors=True)
    (staging / MANIFEST).write_text(json.dumps(model.to_json(), indent=2) + "\n",
                                    encoding="utf-8")
    os.rename(staging, final)
    return read_manifest(final)


def resolve(kb_dir: Path, spec: str, kb_id: str | None, kinds: tuple[ModelKind, ...]
            ) -> TrainedModel:
    """The model a ``trained:<name>`` spec names in this knowledge base.

    Raises:
        ConfigError: no such model, a model of another kind, or one trained for another
            knowledge base; each message says what exists or what to do.
    """
    name = trained_name(spec) or spec
    folder = models_root(kb_dir) / name
    if not (folder / MANIFEST).is_file():
        known = [m.name for m in list_models(kb_dir) if m.kind in kinds]
        raise ConfigError(f"no trained model {name!r} in {kb_dir}; "
                          + (f"choose from {', '.join(known)}" if known else
                             f"train one with `lore train {kinds[0]} --kb {kb_dir}`"))
    model = read_manifest(folder)
    if model.kind not in kinds:
        raise ConfigError(f"{spec} is a {model.kind}, not a {' or '.join(kinds)}")
    if model.kb_id != kb_id:
        raise ConfigError(f"{spec} was trained for another knowledge base (identity "
                          f"{model.kb_id}, this one is {kb_id}); lore does not use it here "
                          f"unasked. To use it anyway, name its folder: {model.model_dir}")
    return model


class Catalog:
    """A knowledge base's trained models as the specs naming them resolve.

    >>> catalog = Catalog(kb_dir, lambda: store.get_meta("kb_id"))
    >>> catalog.model("trained:retriever-1", "retriever").model_dir
    """

    def __init__(self, kb_dir: Path, identity: Callable[[], str | None]) -> None:
        self.kb_dir = kb_dir
        self._identity = identity

    def model(self, spec: str, *kinds: ModelKind) -> TrainedModel:
        return resolve(self.kb_dir, spec, self._identity(), kinds)

    def folder(self, spec: str, kind: ModelKind) -> Path | None:
        """The folder of the trained model ``spec`` names; None for a spec of another form."""
        return self.model(spec, kind).model_dir if trained_name(spec) is not None else None

    def untrained_base(self, model: str) -> str:
        """The model a chain of trained retrievers started from (``minilm``)."""
        while trained_name(model) is not None:
            model = self.model(model, "retriever").base
        return model

    def list(self) -> list[TrainedModel]:
        return list_models(self.kb_dir)


def check_head_vectors(model: TrainedModel, embedder: str) -> None:
    """A scoring head reads the vectors of the embedder it was trained over, no others."""
    if model.base != embedder:
        raise ConfigError(f"{model.spec} scores vectors of {model.base!r}, but this knowledge "
                          f"base is now embedded with {embedder!r}; train a new head "
                          f"(`lore train head`) or `lore reembed --model {model.base}`")

