"""Training: checkpoints, exact resume, EMA export in diffusers format, recipes."""

import json

import pytest
import torch

import projdiff
from projdiff.training import Recipe, TrainConfig, batch_indices, build_model, train
from projdiff.training.architectures import TINY


class Blobs(torch.utils.data.Dataset):
    """64 fixed random 8x8 images in [-1, 1]."""

    def __init__(self):
        self.x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self):
        return 64

    def __getitem__(self, i):
        return self.x[i]


def _train(folder, steps, stop_after=None, sigma_range=None):
    unet, scheduler = build_model(Recipe(TINY, data=None, shape=(1, 8, 8)), seed=0)
    config = TrainConfig(steps=steps, batch_size=8, checkpoint_every=2, validate_every=2, warmup_steps=2,
                         sigma_range=sigma_range)
    summary = train(unet, scheduler, Blobs(), folder, config, validation=Blobs().x[:16], progress=False,
                    stop_after=stop_after, card=lambda s: f"card {s['step']}")
    return summary


def test_interrupted_training_resumes_exactly(tmp_path):
    whole = _train(tmp_path / "whole", 6)
    part = _train(tmp_path / "part", 6, stop_after=3)
    assert part["step"] == 3 and not (tmp_path / "part" / "unet").exists()
    resumed = _train(tmp_path / "part", 6)
    assert resumed["step"] == 6
    a = projdiff.load_prior(tmp_path / "whole")
    b = projdiff.load_prior(tmp_path / "part")
    for pa, pb in zip(a.unet.parameters(), b.unet.parameters()):
        assert torch.equal(pa, pb)
    log = [json.loads(line) for line in (tmp_path / "part" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]  # no step logged twice after the resume
    whole_log = [json.loads(line) for line in (tmp_path / "whole" / "train_log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log] == [r["loss"] for r in whole_log]
    assert whole["heldout_loss"] == resumed["heldout_loss"]
    assert resumed["hardware"] == "1 x cpu"  # recorded for the model card
    assert (tmp_path / "whole" / "README.md").read_text() == "card 6"
    assert sorted(p.name for p in (tmp_path / "whole" / "checkpoints").iterdir()) == ["step-0000004", "step-0000006"]


def test_a_sigma_range_resumes_exactly_and_cannot_change_on_resume(tmp_path):
    whole = _train(tmp_path / "whole", 4, sigma_range=(0.01, 1.0))
    _train(tmp_path / "part", 4, stop_after=2, sigma_range=(0.01, 1.0))
    with pytest.raises(ValueError, match="batch_size/seed/sigma_range 8/0/\\(0.01, 1.0\\), got 8/0/None"):
        _train(tmp_path / "part", 4)
    assert _train(tmp_path / "part", 4, sigma_range=(0.01, 1.0))["heldout_loss"] == whole["heldout_loss"]
    uniform = _train(tmp_path / "uniform", 4)
    assert uniform["heldout_loss"] != whole["heldout_loss"]
    summary = json.loads((tmp_path / "whole" / "training_summary.json").read_text())
    assert summary["config"]["sigma_range"] == [0.01, 1.0]


def test_batches_are_a_function_of_the_step():
    first = batch_indices(0, 8, 20, seed=1)
    assert torch.equal(first, batch_indices(0, 8, 20, seed=1))
    epoch = torch.cat([batch_indices(s, 5, 20, seed=1) for s in range(4)])
    assert sorted(epoch.tolist()) == list(range(20))  # each epoch is a permutation


def test_conditional_unet_trains_and_loads_as_a_conditional_prior(tmp_path):
    """Items carry the condition as extra channels; the saved prior needs it at denoising time."""
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=2, out_channels=1, block_out_channels=(8, 16), norm_num_groups=4,
                       layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))
    data = Blobs()
    data.x = torch.cat([data.x, (data.x > 0).float()], dim=1)          # image + a mask condition
    train(unet, DDPMScheduler(), data, tmp_path, TrainConfig(steps=2, batch_size=8, checkpoint_every=2),
          validation=data.x[:8], progress=False)
    prior = projdiff.load_prior(tmp_path)
    assert prior.condition_channels == 1 and prior.shape == (1, None, None)
    with pytest.raises(ValueError, match="needs 1 condition channel"):
        prior.denoise(torch.zeros(2, 1, 8, 8), torch.ones(2))
    bound = prior.with_condition(torch.ones(2, 1, 8, 8))
    assert bound.denoise(torch.zeros(6, 1, 8, 8), torch.ones(6)).shape == (6, 1, 8, 8)


def _images(folder, count=4):
    from PIL import Image

    folder.mkdir()
    for i in range(count):
        pixels = torch.randint(0, 256, (12, 12), generator=torch.Generator().manual_seed(i), dtype=torch.uint8)
        Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")


def test_cli_sigma_range_trains_there_and_the_card_says_so(tmp_path):
    from projdiff.cli import main

    _images(tmp_path / "images")
    out = tmp_path / "prior"
    code = main(["train", "--model", "tiny", "--data", f"folder:{tmp_path / 'images'}", "--image-size", "8",
                 "--steps", "2", "--batch-size", "2", "--sigma-range", "0.05", "2", "--out", str(out), "--quiet"])
    assert code == 0
    assert json.loads((out / "training_summary.json").read_text())["config"]["sigma_range"] == [0.05, 2.0]
    assert "trained only at sigma 0.05..2 in data units" in (out / "README.md").read_text()


@pytest.mark.parametrize("bad", [["2", "1"], ["500", "1000"]])
def test_cli_sigma_range_outside_the_schedule_is_one_line_and_exit_2(tmp_path, capsys, bad):
    from projdiff.cli import main

    out = tmp_path / "prior"
    code = main(["train", "--model", "tiny", "--image-size", "8", "--steps", "2", "--sigma-range", *bad,
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--sigma-range: expected 0 < low < high" in err[0]
    assert not out.exists()
