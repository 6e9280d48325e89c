"""The shared training loop and its checkpoints: an interrupted run resumes to the same end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lore.errors import ConfigError
from lore.train.checkpoint import Checkpoint
from lore.train.loop import TrainReport, run_steps

FINGERPRINT = {"base": "toy", "pairs": "digest", "settings": "{}"}


class Stop(Exception):
    pass


def toy_run(folder: Path, stop_at: int | None = None, every: int = 3
            ) -> tuple[TrainReport, torch.nn.Module]:
    """Ten steps of a small model with dropout (so the random state matters), checkpointed."""
    torch.manual_seed(0)
    checkpoint = Checkpoint(folder, FINGERPRINT, every)
    saved = checkpoint.load()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5),
                                torch.nn.Linear(8, 1))
    if saved is not None:
        model.load_state_dict(torch.load(saved.model_dir / "weights.pt"))
    batches = [torch.full((2, 4), float(i)) for i in range(10)]

    def save(target: Path) -> None:
        target.mkdir(parents=True)
        torch.save(model.state_dict(), target / "weights.pt")

    def progress(step: int, steps: int, loss: float) -> None:
        if step == stop_at:
            raise Stop

    report = run_steps(model.parameters(), batches, lambda b: model(b).pow(2).mean(), 0.01, 0.1,
                       save, saved, checkpoint, progress)
    return report, model


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights(tmp_path: Path) -> None:
    straight, model = toy_run(tmp_path / "straight")
    with pytest.raises(Stop):
        toy_run(tmp_path / "resumed", stop_at=8)  # saved at steps 3 and 6, stopped at 8
    resumed, again = toy_run(tmp_path / "resumed")
    assert resumed.losses == pytest.approx(straight.losses) and resumed.steps == 10
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.allclose(a, b)


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Stop):
        toy_run(tmp_path, stop_at=4)
    other = Checkpoint(tmp_path, {**FINGERPRINT, "base": "another-model"})
    with pytest.raises(ConfigError,
                       match="from another run \\(base was 'toy'.*'another-model'.*delete"):
        other.load()


def test_a_save_that_crashed_mid_swap_leaves_the_previous_one(tmp_path: Path) -> None:
    with pytest.raises(Stop):
        toy_run(tmp_path, stop_at=4)
    (tmp_path / "current").rename(tmp_path / "previous")  # as if killed between the renames
    saved = Checkpoint(tmp_path, FINGERPRINT).load()
    assert saved is not None and len(saved.state["losses"]) == 3


def test_bf16_autocast_trains_float32_weights() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    batches = [torch.randn(8, 4) for _ in range(20)]
    report = run_steps(model.parameters(), batches, lambda b: (model(b) - 1).pow(2).mean(),
                       0.05, 0.1, lambda folder: None, dtype="bfloat16")
    assert model.weight.dtype == torch.float32 and report.losses[-1] < report.losses[0]


def test_a_batch_back_propagated_in_parts_takes_the_same_step() -> None:
    batch = torch.arange(12, dtype=torch.float32).reshape(6, 2) / 10

    def trained(part_size: int | None) -> tuple[list[float], torch.Tensor]:
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        report = run_steps(model.parameters(), [batch, batch], lambda b: model(b).pow(2).mean(),
                           0.1, 0.0, lambda _: None, part_size=part_size)
        return report.losses, model.weight.detach().clone()

    whole, parts = trained(None), trained(4)
    assert whole[0] == pytest.approx(parts[0])
    assert torch.allclose(whole[1], parts[1], atol=1e-6)
