"""Checkpoints, so an interrupted training run resumes where it stopped.

A checkpoint is a folder ``current/`` holding the model as saved so far (``model/``) and
``state.pt``: the optimizer, the schedule, torch's random state (dropout), the losses, and the
fingerprint of the run (base model, pairs, settings). A new save is written beside it and
swapped in by renames, so a crash mid-save leaves the previous checkpoint whole. A checkpoint
whose fingerprint differs from the run's is refused, never half-applied.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lore.errors import ConfigError

STATE = "state.pt"


@dataclass(frozen=True)
class Saved:
    """A checkpoint read back."""

    model_dir: Path
    state: dict[str, Any]

    def restore(self, optimizer: torch.optim.Optimizer,
                schedule: torch.optim.lr_scheduler.LRScheduler) -> list[float]:
        """Put the optimizer, schedule and random state back; returns the losses so far."""
        optimizer.load_state_dict(self.state["optimizer"])
        schedule.load_state_dict(self.state["schedule"])
        torch.set_rng_state(self.state["rng"])
        return list(self.state["losses"])


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    fingerprint: Mapping[str, str]
    """What the run is (base model, pairs digest, settings): a checkpoint resumes only the
    run it was saved by."""
    every: int = 20
    """Steps between saves."""

    def due(self, step: int, steps: int) -> bool:
        return step % self.every == 0 and step < steps

    def load(self) -> Saved | None:
        for name in ("current", "previous"):  # "previous": a crash came mid-swap
            state_file = self.folder / name / STATE
            if state_file.is_file():
                state = torch.load(state_file, weights_only=False)
                self._check(state.get("fingerprint", {}), state_file)
                return Saved(self.folder / name / "model", state)
        return None

    def save(self, save_model: Callable[[Path], None], optimizer: torch.optim.Optimizer,
             schedule: torch.optim.lr_scheduler.LRScheduler, losses: list[float]) -> None:
        writing = self.folder / "writing"
        shutil.rmtree(writing, ignore_errors=True)
        writing.mkdir(parents=True)
        save_model(writing / "model")
        torch.save({"fingerprint": dict(self.fingerprint), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "rng": torch.get_rng_state(),
                    "losses": losses}, writing / STATE)
        current, previous = self.folder / "current", self.folder / "previous"
        shutil.rmtree(previous, ignore_errors=True)
        if current.exists():
            current.rename(previous)
        writing.rename(current)
        shutil.rmtree(previous, ignore_errors=True)

    def _check(self, saved: Mapping[str, str], where: Path) -> None:
        differs = sorted(key for key in {*saved, *self.fingerprint}
                         if saved.get(key) != self.fingerprint.get(key))
        if differs:
            name = differs[0]
            raise ConfigError(f"the checkpoint {where} is from another run ({name} was "
                              f"{saved.get(name)!r}, this run's is "
                              f"{self.fingerprint.get(name)!r}); delete {where.parent.parent} "
                              "to start over")
