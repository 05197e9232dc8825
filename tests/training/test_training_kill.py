"""Training killed with SIGKILL resumes exactly where an uninterrupted run would be."""

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from processes import start_projdiff, wait_until

from projdiff.cli import main


def _images(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = (np.random.default_rng(i).random((size, size)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"im{i:02d}.png")


def _train_args(data: Path, out: Path) -> list:
    return ["train", "--model", "tiny", "--data", f"folder:{data}", "--image-size", 8, "--out", out,
            "--steps", 60, "--batch-size", 8, "--checkpoint-every", 4, "--quiet"]


def _log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_exactly(tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "data"
    _images(data, 10, size=12)
    killed = tmp_path / "killed"
    process = start_projdiff(_train_args(data, killed))
    first = killed / "checkpoints" / "step-0000004" / "trainer_state.json"
    log = killed / "train_log.jsonl"
    wait_until(lambda: first.is_file() and log.is_file() and len(log.read_text().splitlines()) >= 6, process)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert not (killed / "unet").exists()
    assert main([str(a) for a in _train_args(data, killed)]) == 0
    assert main([str(a) for a in _train_args(data, tmp_path / "whole")]) == 0
    assert [r["step"] for r in _log(killed)] == list(range(1, 61))  # no step logged twice
    assert _log(killed) == _log(tmp_path / "whole")  # losses and held-out losses continue exactly
    a = load_file(killed / "unet" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "whole" / "unet" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
