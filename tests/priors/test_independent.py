"""IndependentPriors: the joint prior of independent parts (ISDM), exact on Gaussians, saved and loaded as a folder."""

import json

import pytest
import torch
from diffusers import DDPMScheduler
from test_diffusers_prior import tiny_unet1d

import projdiff
from projdiff.priors import DiffusersPrior, GaussianPrior, IndependentPriors


def test_joint_denoiser_is_the_exact_denoiser_of_the_product_of_gaussians():
    """Independent Gaussians over (1, 4) and (2, 4) channels are one Gaussian over (3, 4) with a block-diagonal
    (here diagonal) covariance; the joint prior's denoiser must be that Gaussian's exact denoiser."""
    g = torch.Generator().manual_seed(0)
    means = [torch.randn(1, 4, generator=g, dtype=torch.float64), torch.randn(2, 4, generator=g, dtype=torch.float64)]
    variances = [torch.rand(4, generator=g, dtype=torch.float64) + 0.1, torch.rand(8, generator=g, dtype=torch.float64)]
    joint = IndependentPriors([GaussianPrior(m, v) for m, v in zip(means, variances)])
    reference = GaussianPrior(torch.cat(means), torch.cat(variances))
    x = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    sigma = torch.tensor([0.01, 0.1, 0.5, 2.0, 10.0], dtype=torch.float64)
    torch.testing.assert_close(joint.denoise(x, sigma), reference.denoise(x, sigma))
    assert joint.shape == (3, 4) and joint.exact
    assert joint.sigma_data == pytest.approx(reference.sigma_data, rel=0.2)   # per-part RMS spread, pooled


def diffusers_part(channels: int, seed: int) -> DiffusersPrior:
    torch.manual_seed(seed)
    return DiffusersPrior(tiny_unet1d(channels), DDPMScheduler(), metadata={"part": seed})


def test_folder_round_trip_through_load_prior(tmp_path):
    parts = [diffusers_part(1, 0), diffusers_part(2, 1)]
    joint = IndependentPriors(parts, metadata={"kind": "test", "stems": ["a", "bc"]})
    joint.save_pretrained(tmp_path / "joint", ["a", "bc"])
    again = projdiff.load_prior(tmp_path / "joint")
    assert isinstance(again, IndependentPriors) and again.metadata == {"kind": "test", "stems": ["a", "bc"]}
    assert again.shape == (3, None) and again.channels == [1, 2]
    x, sigma = torch.randn(2, 3, 64), torch.tensor([0.1, 1.0])
    torch.testing.assert_close(again.denoise(x, sigma), joint.denoise(x, sigma))
    torch.testing.assert_close(joint.denoise(x, sigma)[:, 1:], parts[1].denoise(x[:, 1:], sigma))
    with pytest.raises(ValueError, match="multiples of 8"):
        again.check_shape((3, 60))                                   # each part's own shape rule holds


def test_bad_parts_get_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"projdiff.json: expected 'parts' to be distinct folder names"):
        (tmp_path / "projdiff.json").write_text(json.dumps({"parts": ["a", "../outside"]}))
        projdiff.load_prior(tmp_path)
    (tmp_path / "projdiff.json").write_text(json.dumps({"parts": ["missing"]}))
    with pytest.raises(FileNotFoundError, match="missing: not a folder with a diffusers model"):
        projdiff.load_prior(tmp_path)
    short = DiffusersPrior(tiny_unet1d(1), DDPMScheduler(num_train_timesteps=500))
    with pytest.raises(ValueError, match="same training noise levels"):
        IndependentPriors([diffusers_part(1, 0), short])
    with pytest.raises(ValueError, match="names: expected 2 names"):
        IndependentPriors([diffusers_part(1, 0), diffusers_part(1, 1)]).save_pretrained(tmp_path / "x", ["a"])
