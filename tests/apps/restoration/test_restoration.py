"""Image restoration tasks with a tiny random UNet prior (behaviour, shapes, units, errors)."""

import pytest
import torch

import projdiff
from projdiff.apps.restoration.degradations import TASKS, TaskSpec, build_operator, measurement_preview
from projdiff.apps.restoration.metrics import image_metrics
from projdiff.apps.restoration.restoration import prepare_image, restore_image, restore_measurement
from projdiff.operators import HDR, PhaseRetrieval


@pytest.fixture(scope="module")
def prior(tiny_prior_dir):
    return projdiff.load_prior(tiny_prior_dir)


@pytest.mark.parametrize("task", TASKS)
def test_every_task_builds_an_operator_and_a_preview(task):
    shape = (3, 16, 16)
    op = build_operator(TaskSpec(task), shape, torch.Generator().manual_seed(0))
    x = torch.rand(2, *shape)
    preview = measurement_preview(TaskSpec(task), op, op(x), shape)
    assert preview.shape == (2, *shape) and float(preview.min()) >= 0 and float(preview.max()) <= 1


def test_task_settings_are_checked():
    with pytest.raises(ValueError, match="task: expected one of"):
        TaskSpec("sr3")
    with pytest.raises(ValueError, match="unknown setting"):
        TaskSpec("sr4", {"fraction": 0.5})
    with pytest.raises(ValueError, match="box: expected"):
        build_operator(TaskSpec("inpaint", {"box": (10, 10, 10, 10)}), (1, 16, 16))
    with pytest.raises(ValueError, match="fraction"):
        build_operator(TaskSpec("inpaint", {"fraction": 1.5}), (1, 16, 16))


def test_pixel_units_for_hdr_and_phase():
    hdr = build_operator(TaskSpec("hdr"), (1, 4, 4))
    assert isinstance(hdr, HDR)
    torch.testing.assert_close(hdr(torch.full((1, 1, 4, 4), 0.5)), torch.full((1, 1, 4, 4), 0.5))
    assert float(hdr(torch.ones(1, 1, 4, 4)).max()) == 1.0
    assert isinstance(build_operator(TaskSpec("phase"), (1, 8, 8)), PhaseRetrieval)


def test_restore_gives_a_feasible_result_and_metrics(prior):
    image = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(0))
    res = restore_image(image, TaskSpec("inpaint", {"fraction": 0.5}), prior, steps=4, seed=1)
    observed = res.measurement > 0
    assert res.restored.shape == (1, 32, 32)
    torch.testing.assert_close(res.restored[observed], image[observed], atol=1e-5, rtol=0)
    assert {"psnr", "ssim", "lpips", "nfe", "seconds", "seed"} <= set(res.metrics)
    assert res.metrics["nfe"] == 5


def test_same_seed_same_result_and_rgb_is_restored_per_channel(prior):
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))
    a = restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.05, steps=3, seed=4)
    b = restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.05, steps=3, seed=4)
    assert torch.equal(a.restored, b.restored) and a.restored.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="colorize: needs an RGB prior"):
        restore_image(image, TaskSpec("colorize"), prior, steps=2)


def test_any_size_is_padded_to_the_network_and_cropped_back(prior):
    image = torch.rand(1, 35, 38, generator=torch.Generator().manual_seed(2))
    res = restore_image(image, TaskSpec("denoise"), prior, sigma_y=0.1, steps=2)
    assert res.restored.shape == (1, 35, 38) and res.truth.shape == (1, 35, 38)  # height x width kept
    assert torch.equal(res.truth, image)
    assert "padded 35x38 to 36x38" in res.notes[0]
    small = restore_image(torch.rand(1, 5, 40), TaskSpec("sr2"), prior, steps=2)  # 5 rows < the 32 it was trained at
    assert small.restored.shape == (1, 5, 40) and small.measured.shape == (1, 3, 20)
    assert "padded 5x40 to 32x40" in small.notes[0]
    unchanged, notes = prepare_image(torch.rand(1, 32, 32), 4, 32)
    assert unchanged.shape == (1, 32, 32) and notes == []


def test_mask_file_is_padded_with_the_image(prior, tmp_path):
    from PIL import Image

    mask = torch.zeros(1, 30, 30)
    mask[:, :, :15] = 1
    Image.fromarray((mask[0].numpy() * 255).astype("uint8")).save(tmp_path / "mask.png")
    image = torch.rand(1, 30, 30, generator=torch.Generator().manual_seed(3))
    res = restore_image(image, TaskSpec("inpaint", {"mask": str(tmp_path / "mask.png")}), prior, steps=2)
    assert res.restored.shape == (1, 30, 30)
    torch.testing.assert_close(res.restored[:, :, :15], image[:, :, :15], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="mask is 30x30, the image is 30x31"):
        restore_image(torch.rand(1, 30, 31), TaskSpec("inpaint", {"mask": str(tmp_path / "mask.png")}), prior,
                      steps=2)


def test_restore_from_a_given_measurement(prior):
    low = torch.rand(1, 8, 8)
    res = restore_measurement(low, TaskSpec("sr4"), prior, (32, 32), sigma_y=0.02, steps=3)
    assert res.restored.shape == (1, 32, 32) and res.truth is None and "psnr" not in res.metrics
    with pytest.raises(ValueError, match="measurement: expected 8x8 pixels for task sr4 on a 32x32 image, got 9x8"):
        restore_measurement(torch.rand(1, 9, 8), TaskSpec("sr4"), prior, (32, 32), steps=2)


def test_the_native_measurement_restores_the_same_case(prior):
    """The measurement at its own size, restored as a given measurement with the same seed, gives the
    same measurement again and (up to its 8-bit rounding) the same restoration."""
    image = torch.rand(1, 36, 36, generator=torch.Generator().manual_seed(4))
    for spec in (TaskSpec("sr4"), TaskSpec("inpaint", {"fraction": 0.5})):
        first = restore_image(image, spec, prior, steps=3, seed=7)
        upscale = spec.degradation.upscale
        assert first.measured.shape == (1, 36 // upscale, 36 // upscale)
        quantized = (first.measured * 255).round() / 255
        again = restore_measurement(quantized, spec, prior, (36, 36), steps=3, seed=7)
        assert again.restored.shape == (1, 36, 36)
        torch.testing.assert_close(again.measurement, first.measurement, atol=1 / 255, rtol=0)
        assert float((again.restored - first.restored).abs().mean()) < 0.02


def test_metrics_use_data_range_one_and_never_fake_lpips():
    truth = torch.zeros(1, 16, 16)
    m = image_metrics(truth + 0.1, truth)
    assert m["psnr"] == pytest.approx(20.0, abs=1e-3)
    assert m["ssim"] <= 1.0
    assert isinstance(m["lpips"], float) or (m["lpips"] is None and "not computed" in m["lpips_note"])


@pytest.fixture(scope="module")
def rgb_prior(tiny_rgb_prior_dir):
    return projdiff.load_prior(tiny_rgb_prior_dir)


def test_an_rgb_prior_restores_a_grayscale_image_through_its_gray_image(rgb_prior):
    """The unknown is a colour image whose channel mean the degradation saw; the result is that mean."""
    gray = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(2))
    mask = TaskSpec("inpaint", {"fraction": 0.5})
    res = restore_image(gray, mask, rgb_prior, steps=3, num_samples=2, seed=1)
    assert res.restored.shape == res.truth.shape == res.std.shape == res.measurement.shape == (1, 32, 32)
    assert torch.equal(res.truth, gray) and res.metrics["psnr"] > 0
    sr = restore_measurement(torch.rand(1, 8, 8), TaskSpec("sr4"), rgb_prior, (32, 32), sigma_y=0.02, steps=3)
    assert sr.restored.shape == (1, 32, 32)
    with pytest.raises(ValueError, match="colorize: the image is grayscale, so it is the measurement"):
        restore_image(gray, TaskSpec("colorize"), rgb_prior, steps=2)
    colour = restore_measurement(gray, TaskSpec("colorize"), rgb_prior, (32, 32), steps=2)
    assert colour.restored.shape == (3, 32, 32)


def test_a_prior_recommending_a_point_estimate_stops_at_the_measurements_noise(tiny_prior_dir, monkeypatch):
    """With ``end_at_measurement_noise`` one sample's schedule ends at noise_gain * sigma_y (sr4: 4 * sigma_y,
    inpainting: sigma_y), its steps are the prior's recommendation; several samples and sigma_y = 0 keep the
    engine's whole schedule; ``sigma_end`` sets the end explicitly."""
    from projdiff.apps.restoration import restoration

    prior = projdiff.load_prior(tiny_prior_dir)
    prior.metadata = {"restoration": {"steps": 7, "end_at_measurement_noise": True}}
    seen = []

    def spy(operator, prior, y, **kwargs):
        seen.append((kwargs.get("sigmas"), kwargs["steps"]))
        return solve(operator, prior, y, **kwargs)

    solve = restoration.solve
    monkeypatch.setattr(restoration, "solve", spy)
    image = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(0))
    result = restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.02, seed=0)
    sigmas, steps = seen[-1]
    assert steps == 7 and len(sigmas) == 7 and result.metrics["steps"] == 7
    assert sigmas[-1] == pytest.approx(0.08) and sigmas[0] > sigmas[-1]
    restore_image(image, TaskSpec("inpaint", {"fraction": 0.5}), prior, sigma_y=0.02, seed=0)
    assert seen[-1][0][-1] == pytest.approx(0.02)
    restore_image(image, TaskSpec("inpaint", {"fraction": 0.5}), prior, sigma_y=0.02, seed=0, sigma_end=0.1)
    assert seen[-1][0][-1] == pytest.approx(0.1)
    restore_image(image, TaskSpec("inpaint", {"box": (8, 8, 16, 16)}), prior, sigma_y=0.02, seed=0)
    top = projdiff.priors.AffinePrior.unit_interval(prior).sigma_max     # a hole's content is generated from noise
    assert seen[-1][0][0] == pytest.approx(top) and seen[-1][0][-1] == pytest.approx(0.02)
    restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.02, num_samples=2, seed=0)
    restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.0, seed=0)
    assert seen[-2][0] is None and seen[-1][0] is None      # the engine's own schedule
    with pytest.raises(ValueError, match="sigma_end: expected a noise level > 0"):
        restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.02, seed=0, sigma_end=-1.0)


@pytest.mark.parametrize("spec", [TaskSpec("inpaint", {"fraction": 0.5}), TaskSpec("deblur"), TaskSpec("sr4")],
                         ids=["inpaint", "deblur", "sr4"])
def test_an_rgb_prior_restores_a_noisy_grayscale_image(rgb_prior, spec):
    """Noisy gray images go through GrayscaleObservation: tight degradations stay tight (inpainting), a blur gets
    its SVD through the channel mean (per-mode noise levels) instead of being refused."""
    from projdiff.operators import GrayscaleObservation

    operator = GrayscaleObservation(build_operator(spec, (1, 32, 32), torch.Generator().manual_seed(0)))
    assert operator.tight == (spec.name != "deblur")
    gray = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(3))
    res = restore_image(gray, spec, rgb_prior, sigma_y=0.02, steps=3, seed=0)
    assert res.restored.shape == (1, 32, 32) and torch.isfinite(res.restored).all()
