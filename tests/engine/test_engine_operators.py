"""The engine with structured and nonlinear operators, and its options."""

import pytest
import torch

import projdiff
from projdiff.engine.observation import Problem, build_mode_space
from projdiff.operators import HDR, Blur, Inpainting, NonlinearOperator, PhaseRetrieval, gaussian_kernel
from projdiff.priors import GaussianPrior


def smooth_prior(shape, length=2.0, sigma_max=20.0):
    n = torch.Size(shape).numel()
    grids = torch.meshgrid(*[torch.arange(s, dtype=torch.float64) for s in shape], indexing="ij")
    pts = torch.stack([g.flatten() for g in grids], -1)
    cov = torch.exp(-((pts[:, None] - pts[None]) ** 2).sum(-1) / (2 * length**2)) + 1e-2 * torch.eye(n, dtype=torch.float64)
    return GaussianPrior(torch.zeros(shape), cov, sigma_max=sigma_max)


def test_per_mode_noise_levels_follow_the_singular_values():
    op = Blur(gaussian_kernel(1.0), (1, 8, 8))
    y = torch.zeros(2, 1, 8, 8)
    space = build_mode_space(Problem(op, y, torch.tensor([0.1, 0.2])), per_mode=None)
    s = op.spectral().singular_values
    expected = torch.where(s > 0, 0.1 / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))
    torch.testing.assert_close(space.sigma_a[0, 0], expected)
    torch.testing.assert_close(space.sigma_a[0, 1], 2 * expected)
    scalar = build_mode_space(Problem(op, y, torch.tensor([0.1, 0.2])), per_mode=False)
    assert scalar.sigma_a.shape == (1, 2, 1, 1, 1)
    noise_free = build_mode_space(Problem(op, y, torch.zeros(2)), per_mode=None)
    assert float(noise_free.sigma_a.abs().max()) == 0.0


def test_per_mode_request_without_a_spectrum_is_a_type_error():
    op = Inpainting(torch.ones(4))
    with pytest.raises(TypeError, match="per_mode=True needs an operator with spectral"):
        projdiff.solve(op, GaussianPrior(torch.zeros(4), torch.ones(4)), torch.zeros(1, 4), sigma_y=0.1,
                       per_mode=True, progress=False)


def test_hdr_result_reproduces_the_clipped_measurement():
    prior = smooth_prior((1, 6, 6))
    op = HDR((1, 6, 6), gain=2.0)
    x = prior.sample(3, torch.Generator().manual_seed(0)).float()
    y = op(x)
    res = projdiff.solve(op, prior, y, steps=30, seed=0, progress=False)
    torch.testing.assert_close(op(res.x), y, atol=1e-5, rtol=0)


def test_phase_retrieval_runs_batched_and_fits_the_magnitudes():
    prior = smooth_prior((1, 6, 6))
    op = PhaseRetrieval((1, 6, 6))
    x = prior.sample(2, torch.Generator().manual_seed(1)).float()
    y = op(x)
    res = projdiff.solve(op, prior, y, steps=60, seed=0, progress=False)
    assert res.x.shape == (2, 1, 6, 6) and bool(torch.isfinite(res.x).all())
    start = projdiff.solve(op, prior, y, steps=1, seed=0, progress=False).x
    assert float((op(res.x) - y).norm()) < float((op(start) - y).norm())


def test_user_nonlinear_operator_gets_a_gauss_newton_projection():
    prior = smooth_prior((8,), length=1.5)
    op = NonlinearOperator(lambda x: torch.tanh(x[:, :5]) + 0.1 * x[:, :5] ** 2, (8,))
    x = prior.sample(2, torch.Generator().manual_seed(2)).float()
    y = op(x)
    res = projdiff.solve(op, prior, y, steps=20, seed=0, progress=False)
    assert float((op(res.x) - y).abs().max()) < 1e-3


@pytest.mark.parametrize("options", [dict(momentum=0.5), dict(inner_steps=3), dict(restricted_encoding=True),
                                     dict(bridge="deterministic"), dict(step_size=lambda s, n: 1.0 + n / (1 + s))])
def test_options_change_the_result_and_stay_deterministic(options):
    prior = smooth_prior((1, 4, 4))
    op = Inpainting.random((1, 4, 4), 0.5, generator=torch.Generator().manual_seed(0))
    y = op(prior.sample(1, torch.Generator().manual_seed(3)))
    base = projdiff.solve(op, prior, y, sigma_y=0.1, steps=8, seed=0, progress=False)
    a = projdiff.solve(op, prior, y, sigma_y=0.1, steps=8, seed=0, progress=False, **options)
    b = projdiff.solve(op, prior, y, sigma_y=0.1, steps=8, seed=0, progress=False, **options)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, base.x)


def test_bridge_name_is_checked():
    prior = smooth_prior((4,))
    with pytest.raises(ValueError, match="bridge: expected one of"):
        projdiff.solve(Inpainting(torch.ones(4)), prior, torch.zeros(1, 4), bridge="ode", progress=False)


def _path(op, sigma_y, per_mode=None):
    """(path, sigma_a) that ``build_mode_space`` picks for one item of ``op`` with noise ``sigma_y``."""
    y = torch.zeros(1, *op.output_shape, dtype=torch.float64)
    space = build_mode_space(Problem(op, y, torch.tensor([sigma_y], dtype=torch.float64)), per_mode)
    probe = torch.ones(1, 1, *op.input_shape, dtype=torch.float64)
    return ("scalar" if space.to_modes(probe) is probe else "per-mode"), space.sigma_a


def test_the_path_table_of_the_architecture_doc(monkeypatch):
    """Each row of 'How the engine picks the path for an operator' in docs/architecture.md."""
    from projdiff.operators import LinearOperator, SuperResolution

    cumsum = LinearOperator(lambda x: x.cumsum(-1)[..., ::2], (8,)).double()
    path, sigma_a = _path(cumsum, 0.0)                                           # noise-free: scalar, exact
    assert path == "scalar" and float(sigma_a.abs().max()) == 0.0
    path, sigma_a = _path(cumsum, 0.1)                                           # noisy, spectral(): per mode
    s = cumsum.spectral().singular_values
    assert path == "per-mode" and s.numel() == 8 and int((s > 0).sum()) == 4
    torch.testing.assert_close(sigma_a[0, 0][s > 0], 0.1 / s[s > 0])
    path, sigma_a = _path(SuperResolution((1, 4, 4), 2), 0.1)                   # noisy, tight: one level
    assert path == "scalar" and float(sigma_a.flatten()[0]) == pytest.approx(0.1 / (1 / 4) ** 0.5)
    tanh = NonlinearOperator(lambda x: torch.tanh(x[..., :2]), (3,))             # noisy, nonlinear
    path, sigma_a = _path(tanh, 0.1)
    assert path == "scalar" and float(sigma_a.flatten()[0]) == pytest.approx(0.1 * tanh.noise_gain())
    monkeypatch.setattr("projdiff.operators.base.DENSE_SPECTRAL_LIMIT", 4)      # too large for a dense SVD
    large = LinearOperator(lambda x: x.cumsum(-1)[..., ::2], (8,)).double()
    assert large.spectral() is None
    with pytest.raises(ValueError, match="not a tight frame and has no spectral decomposition"):
        _path(large, 0.1)
    path, sigma_a = _path(large, 0.1, per_mode=False)                            # asked for: one average level
    assert path == "scalar" and float(sigma_a.flatten()[0]) == pytest.approx(0.1 * large.noise_gain())
