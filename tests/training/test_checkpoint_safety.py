"""Resuming never unpickles; unreadable checkpoints are skipped; a diverging run stops before saving."""

import os
import pickle

import pytest
import torch

import projdiff
from projdiff.training import Recipe, TrainConfig, build_model, train
from projdiff.training.architectures import TINY
from projdiff.training.trainer import CheckpointError


class Blobs(torch.utils.data.Dataset):
    def __init__(self):
        self.x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def _train(folder, steps, stop_after=None, progress=False, **settings):
    unet, scheduler = build_model(Recipe(TINY, data=None, shape=(1, 8, 8)), seed=0)
    config = TrainConfig(steps=steps, batch_size=8, checkpoint_every=2, validate_every=2, warmup_steps=2, **settings)
    return train(unet, scheduler, Blobs(), folder, config, validation=Blobs().x[:8], progress=progress,
                 stop_after=stop_after)


class RunsCode:
    """Unpickling this object runs ``touch MARKER`` (what an attacker would plant)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _plant(path, marker):
    path.write_bytes(pickle.dumps(RunsCode(marker)))


def test_resuming_never_unpickles_and_falls_back_to_the_previous_checkpoint(tmp_path, capsys):
    whole = _train(tmp_path / "whole", 6)
    out = tmp_path / "part"
    _train(out, 6, stop_after=4)
    newest, previous = out / "checkpoints" / "step-0000004", out / "checkpoints" / "step-0000002"
    marker = tmp_path / "pwned"
    for folder in (newest, previous):  # every name accelerate (or torch.load) would have opened
        for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin"):
            _plant(folder / name, marker)
    _plant(newest / "optimizer.safetensors", marker)  # the newest checkpoint is now unreadable
    resumed = _train(out, 6, progress=True)
    printed = capsys.readouterr().out
    assert not marker.exists()
    assert "skipped checkpoint" in printed and "step-0000004: cannot be read" in printed
    assert "resumed from step 2 (step-0000002, the newest readable checkpoint)" in printed
    assert resumed["step"] == 6 and resumed["heldout_loss"] == whole["heldout_loss"]  # exact from step 2
    a, b = projdiff.load_prior(tmp_path / "whole"), projdiff.load_prior(out)
    assert all(torch.equal(p, q) for p, q in zip(a.unet.parameters(), b.unet.parameters()))


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    _train(tmp_path, 6, stop_after=2)
    (tmp_path / "checkpoints" / "step-0000002" / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(CheckpointError, match="no checkpoint can be resumed from"):
        _train(tmp_path, 6)


def test_a_non_finite_loss_stops_training_before_anything_is_saved(tmp_path):
    with pytest.raises(FloatingPointError, match="training diverged at step .*lower the learning rate"):
        _train(tmp_path, 6, learning_rate=1e30)
    assert not (tmp_path / "unet").exists() and not (tmp_path / "model_index.json").exists()
