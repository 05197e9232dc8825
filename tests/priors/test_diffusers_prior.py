"""DiffusersPrior on tiny randomly initialised UNets (nothing is downloaded)."""

import json

import pytest
import torch
from diffusers import DDPMScheduler, UNet1DModel, UNet2DModel

import projdiff
from projdiff.priors import AffinePrior, DiffusersPrior


def tiny_unet2d(channels=1, out_channels=None):
    """A small random UNet2DModel; ``out_channels`` differs from ``channels`` for conditional or learned-variance nets."""
    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=channels, out_channels=out_channels or channels,
                       block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))


def tiny_unet1d(channels=4):
    torch.manual_seed(0)
    return UNet1DModel(sample_size=64, in_channels=channels, out_channels=channels, block_out_channels=(8, 16, 32, 32),
                       extra_in_channels=16, time_embedding_type="fourier", use_timestep_embedding=False,
                       flip_sin_to_cos=True, mid_block_type="UNetMidBlock1D", out_block_type=None,
                       down_block_types=("DownBlock1DNoSkip", "DownBlock1D", "DownBlock1D", "AttnDownBlock1D"),
                       up_block_types=("AttnUpBlock1D", "UpBlock1D", "UpBlock1D", "UpBlock1DNoSkip"))


class _Constant(torch.nn.Module):
    """Stands in for a UNet: returns a fixed output, so the parameterisation algebra can be checked."""

    def __init__(self, value):
        super().__init__()
        self.value = value
        self.config = tiny_unet2d().config
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x, t):
        self.seen.append((x.clone(), t.clone()))
        return type("Out", (), {"sample": self.value.expand_as(x)})()


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_prediction_types_convert_to_x0(kind):
    sched = DDPMScheduler(prediction_type=kind)
    out = torch.full((1, 1, 8, 8), 0.3)
    net = _Constant(out)
    prior = DiffusersPrior(net, sched)
    abar = sched.alphas_cumprod[400].double()
    sigma = ((1 - abar) / abar).sqrt()
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    got = prior.denoise(x, sigma.reshape(1))
    xt, t = net.seen[-1]
    torch.testing.assert_close(t, torch.tensor([400.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(xt.double(), abar.sqrt() * x, atol=1e-6, rtol=0)  # the VP input scaling
    x_vp = abar.sqrt() * x
    if kind == "epsilon":
        expected = (x_vp - (1 - abar).sqrt() * 0.3) / abar.sqrt()
    elif kind == "v_prediction":
        expected = abar.sqrt() * x_vp - (1 - abar).sqrt() * 0.3
    else:
        expected = torch.full_like(x, 0.3)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_sigma_grid_and_time_mapping():
    prior = DiffusersPrior(tiny_unet2d(), DDPMScheduler())
    assert prior.sigmas.shape == (1000,) and bool((prior.sigmas[1:] > prior.sigmas[:-1]).all())
    t = prior.sigma_to_t(prior.sigmas[[0, 10, 500, 999]].double())
    torch.testing.assert_close(t, torch.tensor([0.0, 10.0, 500.0, 999.0]), atol=1e-3, rtol=0)
    assert prior.sigma_to_t(torch.tensor([1e-9, 1e9])).tolist() == [0.0, 999.0]
    between = (prior.sigmas[10].double().log() * 0.75 + prior.sigmas[11].double().log() * 0.25).exp()
    torch.testing.assert_close(prior.sigma_to_t(between[None]), torch.tensor([10.25]), atol=1e-4, rtol=0)


def test_learned_variance_channels_are_dropped():
    prior = DiffusersPrior(tiny_unet2d(1, out_channels=2), DDPMScheduler())
    assert prior.denoise(torch.randn(2, 1, 8, 8), torch.tensor([0.5, 2.0])).shape == (2, 1, 8, 8)


def test_save_and_load_round_trip(tmp_path):
    prior = DiffusersPrior(tiny_unet2d(), DDPMScheduler(prediction_type="v_prediction"), data_range=(0.0, 1.0))
    prior.save_pretrained(tmp_path / "p")
    again = projdiff.load_prior(tmp_path / "p")
    assert again.prediction_type == "v_prediction" and again.data_range == (0.0, 1.0)
    x, s = torch.randn(3, 1, 8, 8), torch.tensor([0.1, 1.0, 10.0])
    assert torch.equal(again.denoise(x, s), prior.denoise(x, s))
    assert json.loads((tmp_path / "p" / "model_index.json").read_text())["_class_name"] == "DDPMPipeline"


def test_unet1d_prior_and_solve_on_multichannel_signals():
    from projdiff.operators.base import LinearOperator

    prior = DiffusersPrior(tiny_unet1d(), DDPMScheduler())
    assert prior.shape == (4, None)
    op = LinearOperator(lambda x: x.sum(1), (4, 64), frame_constant=4.0)
    y = torch.randn(2, 64)
    res = projdiff.solve(op, prior, y, steps=5, seed=0, progress=False)
    assert res.x.shape == (2, 4, 64)
    assert float((op(res.x) - y).norm()) <= 1e-5 * float(res.x.norm())  # float32 rounding only


def test_solve_with_a_unet_in_pixel_units():
    from projdiff.operators.base import LinearOperator

    base = DiffusersPrior(tiny_unet2d(), DDPMScheduler())
    prior = AffinePrior.unit_interval(base)
    torch.testing.assert_close(prior.sigmas, base.sigmas / 2)          # [-1, 1] -> [0, 1] halves every noise level
    op = LinearOperator(lambda x: x[..., ::2, :], (1, 8, 8))
    y = torch.rand(1, 1, 4, 8)
    res = projdiff.solve(op, prior, y, sigma_y=0.05, steps=4, seed=0, progress=False)
    assert res.x.shape == (1, 1, 8, 8) and bool(torch.isfinite(res.x).all())


def test_shapes_that_a_unet_cannot_take_are_named():
    prior = DiffusersPrior(tiny_unet2d(), DDPMScheduler())
    with pytest.raises(ValueError, match="expected \\(1, any, any\\)"):
        prior.check_shape((3, 8, 8))
    with pytest.raises(ValueError, match="multiples of 2"):
        prior.check_shape((1, 7, 8))


def test_missing_folders_and_hub_ids_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no UNet found"):
        DiffusersPrior.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no bundled prior 'nope'"):
        projdiff.load_prior("bundled:nope")
    with pytest.raises(FileNotFoundError, match="neither a folder nor a hub id"):
        projdiff.load_prior(str(tmp_path / "missing"))
    for text in ("a/b/c", "no-slash"):                     # not owner/name
        with pytest.raises(FileNotFoundError, match=rf"^prior: {text} is neither a folder nor a hub id \(owner/name\) "
                                                    r"nor bundled:NAME \(bundled: bundled:"):
            projdiff.load_prior(text)
    with pytest.raises(FileNotFoundError, match=r"missing.pth: no such file$"):   # .pt/.pth: ADM checkpoint files
        projdiff.load_prior(tmp_path / "missing.pth")
    assert projdiff.load_prior("bundled:fashion-mnist-32").shape == (1, None, None)


class _LearnedVariance(_Constant):
    """A learned-variance stand-in: 2C outputs, the first C the prediction, the last C variance values."""

    def __init__(self, prediction, variance):
        super().__init__(torch.cat([prediction, variance], dim=1))
        self.config = tiny_unet2d(1, out_channels=2).config

    def forward(self, x, t):
        self.seen.append((x.clone(), t.clone()))
        return type("Out", (), {"sample": self.value.expand(x.shape[0], -1, -1, -1)})()


def test_learned_variance_keeps_the_first_channels_as_the_prediction():
    """Guards which half of a 2C output is kept: the first C channels (the noise), not the variance half."""
    prediction, variance = torch.full((1, 1, 8, 8), 0.3), torch.full((1, 1, 8, 8), -5.0)
    prior = DiffusersPrior(_LearnedVariance(prediction, variance), DDPMScheduler(prediction_type="sample"))
    assert prior.shape[0] == 1                                    # C = 1 channel, not 2
    got = prior.denoise(torch.randn(2, 1, 8, 8), torch.tensor([0.5, 2.0]))
    torch.testing.assert_close(got, torch.full((2, 1, 8, 8), 0.3))


def test_a_bound_condition_is_tiled_over_the_samples_in_sample_major_order():
    """``with_condition(c)``: K samples of B items arrive as K * B rows, row ``k * B + b`` denoised with ``c[b]``.

    The bound prior keeps the base prior's noise range, scale, centre, data range and metadata.
    """
    unet = tiny_unet2d(2, out_channels=1)
    base = DiffusersPrior(unet, DDPMScheduler(), metadata={"note": "conditional"})
    g = torch.Generator().manual_seed(2)
    condition = torch.randn(2, 1, 8, 8, generator=g)
    bound = base.with_condition(condition)
    for name in ("shape", "sigma_min", "sigma_max", "sigma_data", "data_center", "data_range", "metadata"):
        assert getattr(bound, name) == getattr(base, name), name
    torch.testing.assert_close(bound.sigmas, base.sigmas)
    x = torch.randn(6, 1, 8, 8, generator=g)
    sigma = torch.tensor([0.5, 0.5, 2.0, 2.0, 0.1, 0.1])
    rows = [base.denoise(x[i : i + 1], sigma[i : i + 1], condition[i % 2 : i % 2 + 1]) for i in range(6)]
    torch.testing.assert_close(bound.denoise(x, sigma), torch.cat(rows), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"^condition: 2 items do not divide the batch of 3$"):
        bound.denoise(x[:3], sigma[:3])


def test_the_hub_counts_as_reachable_only_when_its_endpoint_accepts_a_connection(monkeypatch):
    """``from_pretrained`` falls back to the local cache unless the hub's host answers; checked on a local port."""
    import socket

    from huggingface_hub import constants

    from projdiff.priors.diffusers_prior import _hub_reachable

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        assert _hub_reachable(timeout=5.0) is True
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        assert _hub_reachable(timeout=5.0) is False
    finally:
        server.close()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert _hub_reachable(timeout=5.0) is False          # nothing listens there any more


def test_folder_layouts_class_names_and_metadata_load_as_documented(tmp_path):
    """A saved prior keeps its metadata; a flat folder (UNet config and weights at the top, the scheduler in a
    ``config.json`` with ``num_train_timesteps``) loads; the UNet class follows ``_class_name`` (UNet2DModel when
    absent); a class outside the allow-list is refused naming the file; no ``projdiff.json`` means data range
    (-1, 1) and no metadata; a scheduler config diffusers cannot use names its file and the error's first line."""
    prior = DiffusersPrior(tiny_unet1d(), DDPMScheduler(), data_range=(0.0, 2.0), metadata={"card": {"steps": 3}})
    prior.save_pretrained(tmp_path / "saved")
    again = projdiff.load_prior(tmp_path / "saved")
    assert type(again.unet).__name__ == "UNet1DModel" and again.metadata == {"card": {"steps": 3}}

    flat = tmp_path / "flat"
    tiny_unet2d().save_pretrained(flat)
    DDPMScheduler(num_train_timesteps=40).save_config(tmp_path / "sched")
    (flat / "config.json").write_text(json.dumps({k: v for k, v in json.loads((flat / "config.json").read_text())
                                                  .items() if k != "_class_name"}))
    sched = json.loads((tmp_path / "sched" / "scheduler_config.json").read_text())
    (flat / "scheduler").mkdir()
    (flat / "scheduler" / "config.json").write_text(json.dumps(sched))
    loaded = DiffusersPrior.from_pretrained(flat)
    assert type(loaded.unet).__name__ == "UNet2DModel" and loaded.scheduler.config.num_train_timesteps == 40
    assert loaded.data_range == (-1.0, 1.0) and loaded.metadata == {}

    config = json.loads((flat / "config.json").read_text())
    (flat / "config.json").write_text(json.dumps({**config, "_class_name": "AutoencoderKL"}))
    with pytest.raises(ValueError, match=r"config.json: _class_name 'AutoencoderKL' is not supported; expected one of "
                                         r"UNet2DModel, UNet1DModel"):
        DiffusersPrior.from_pretrained(flat)
    (flat / "config.json").write_text(json.dumps(config))
    weights = flat / "diffusion_pytorch_model.safetensors"
    saved = weights.read_bytes()
    weights.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match=r"flat: cannot load the UNet weights \(OSError: Unable to load weights [^\n]+\)$"):
        DiffusersPrior.from_pretrained(flat)
    weights.write_bytes(saved)
    (flat / "scheduler" / "config.json").write_text(json.dumps({**sched, "_class_name": "DDIMScheduler",
                                                                 "beta_schedule": "no-such-schedule"}))
    with pytest.raises(ValueError, match=r"scheduler/config.json: not a usable scheduler config \(NotImplementedError"):
        DiffusersPrior.from_pretrained(flat)


def test_a_conditional_prior_without_its_condition_names_what_it_got():
    unet = tiny_unet2d(2, out_channels=1)
    prior = DiffusersPrior(unet, DDPMScheduler())
    message = r"^condition: this prior needs 1 condition channel\(s\) \(use prior.with_condition\(...\)\), got "
    with pytest.raises(ValueError, match=message + r"None$"):
        prior.denoise(torch.zeros(2, 1, 8, 8), torch.ones(2))
    with pytest.raises(ValueError, match=message + r"\(2, 2, 8, 8\)$"):
        prior.denoise(torch.zeros(2, 1, 8, 8), torch.ones(2), torch.zeros(2, 2, 8, 8))
