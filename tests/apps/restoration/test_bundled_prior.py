"""The bundled Fashion-MNIST prior: it loads by name and beats the pseudo-inverse clearly."""

import json

import pytest
import torch

import projdiff
from projdiff.apps.restoration.degradations import TaskSpec, build_operator
from projdiff.apps.restoration.demo import demo_images
from projdiff.apps.restoration.metrics import image_metrics
from projdiff.priors import AffinePrior, bundled_priors
from projdiff.utils.bundled import BUNDLED_DIR


def test_bundled_prior_loads_and_has_a_model_card():
    assert "fashion-mnist-32" in bundled_priors()
    prior = projdiff.load_prior("bundled:fashion-mnist-32")
    assert prior.shape == (1, None, None) and prior.unet.config.sample_size == 32
    card = (BUNDLED_DIR / "fashion-mnist-32" / "README.md").read_text()
    assert "projdiff train --preset fashion-mnist-32" in card and "Held-out denoising loss" in card
    summary = json.loads((BUNDLED_DIR / "fashion-mnist-32" / "training_summary.json").read_text())
    assert summary["step"] >= 1000
    size = sum(p.stat().st_size for p in (BUNDLED_DIR / "fashion-mnist-32").rglob("*") if p.is_file())
    assert size <= 10 * 2**20


@pytest.mark.parametrize("spec, sigma_y", [(TaskSpec("sr4"), 0.05), (TaskSpec("inpaint", {"fraction": 0.5}), 0.0)])
def test_bundled_prior_beats_the_pseudo_inverse(spec, sigma_y):
    prior = AffinePrior.unit_interval(projdiff.load_prior("bundled:fashion-mnist-32"))
    truth = torch.stack(list(demo_images().values()))                       # 4 test images, (4, 1, 32, 32)
    op = build_operator(spec, (1, 32, 32), torch.Generator().manual_seed(0))
    y = op(truth) + sigma_y * torch.randn(op(truth).shape, generator=torch.Generator().manual_seed(1))
    restored = projdiff.solve(op, prior, y, sigma_y=sigma_y, steps=50, seed=0, step_size=1.0, progress=False).x
    ours = sum(image_metrics(r, t)["psnr"] for r, t in zip(restored, truth)) / len(truth)
    pinv = sum(image_metrics(r, t)["psnr"] for r, t in zip(op.pinv(y).clamp(0, 1), truth)) / len(truth)
    assert ours > pinv + 3.0, (ours, pinv)
