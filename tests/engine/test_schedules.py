"""Noise schedules and the problem's noise columns against their formulas, element by element (found by
mutation testing: the existing tests checked endpoints and counts, so exponents, defaults and strides could change)."""

import math

import pytest
import torch

from projdiff.engine.schedules import (alphas_cumprod_to_sigmas, karras_sigmas, linear_beta_alphas_cumprod,
                                       projdiff_sigmas, strided_vp_sigmas)


def geometric(count, high, low):
    return [high * (low / high) ** (k / (count - 1)) for k in range(count)] if count > 1 else [high]


def test_karras_levels_follow_the_rho_ramp():
    hi, lo = 10.0 ** (1 / 7), 0.01 ** (1 / 7)                      # default rho = 7
    expected = [(hi + k / 4 * (lo - hi)) ** 7 for k in range(5)]
    assert karras_sigmas(5, 0.01, 10.0).tolist() == pytest.approx(expected, rel=1e-12)
    hi3, lo3 = 10.0 ** (1 / 3), 0.01 ** (1 / 3)
    assert karras_sigmas(3, 0.01, 10.0, rho=3.0).tolist() == pytest.approx([10.0, ((hi3 + lo3) / 2) ** 3, 0.01])
    assert karras_sigmas(1, 0.01, 10.0).tolist() == [10.0]
    assert karras_sigmas(2, 0.01, 10.0).dtype == torch.float64


@pytest.mark.parametrize("steps, sigma_min, sigma_max, sigma_data, coarse, high, middle, low", [
    (100, 0.002, 80.0, 0.5, 30, 2.0, 0.15, 0.0025),    # 4 sigma_data, 0.3 sigma_data, sigma_data / 200
    (10, 0.002, 80.0, 0.5, 5, 2.0, 0.15, 0.0025),      # fewer than 60 steps: half of them coarse
    (7, 0.01, 1.5, 0.5, 3, 1.5, 0.15, 0.01),           # sigma_max below 4 sigma_data; sigma_min above sd / 200
    (2, 0.002, 80.0, 0.5, 1, 2.0, 0.15, 0.0025),
])
def test_projdiff_levels_are_two_geometric_runs(steps, sigma_min, sigma_max, sigma_data, coarse, high, middle, low):
    expected = geometric(coarse + 1, high, middle)[:-1] + geometric(steps - coarse, middle, low)
    got = projdiff_sigmas(steps, sigma_min, sigma_max, sigma_data)
    assert got.dtype == torch.float64 and got.tolist() == pytest.approx(expected, rel=1e-12)


def test_projdiff_levels_without_sigma_data_span_the_prior_range():
    assert projdiff_sigmas(5, 0.002, 20.0).tolist() == pytest.approx(geometric(5, 20.0, 0.002), rel=1e-12)
    assert projdiff_sigmas(1, 0.002, 80.0, 0.5).tolist() == [2.0]
    middle_clamped = projdiff_sigmas(4, 0.2, 80.0, 0.5)                 # 0.3 sigma_data below sigma_min
    assert middle_clamped.tolist() == pytest.approx(geometric(3, 2.0, 0.2)[:-1] + geometric(2, 0.2, 0.2))


def test_linear_betas_and_their_sigmas():
    abar = linear_beta_alphas_cumprod()
    betas = [1e-4 + (0.02 - 1e-4) * t / 999 for t in range(1000)]
    assert abar.shape == (1000,) and abar.dtype == torch.float64
    for t in (0, 1, 500, 999):
        assert float(abar[t]) == pytest.approx(math.prod(1 - b for b in betas[:t + 1]), rel=1e-10)
    short = linear_beta_alphas_cumprod(10, 0.1, 0.2)
    assert short.tolist() == pytest.approx([math.prod(1 - (0.1 + 0.1 * s / 9) for s in range(t + 1)) for t in range(10)])
    sig = alphas_cumprod_to_sigmas(torch.tensor([0.5, 0.2], dtype=torch.float32))
    assert sig.dtype == torch.float64 and sig.tolist() == pytest.approx([1.0, 2.0])


@pytest.mark.parametrize("steps, stride", [(100, 10), (300, 3), (600, 1), (1000, 1), (2000, 1)])
def test_strided_grid_is_every_kth_time_step(steps, stride):
    abar = linear_beta_alphas_cumprod()
    all_sigmas = alphas_cumprod_to_sigmas(abar)
    expected = all_sigmas[list(range(0, 1000, stride))[::-1]]
    assert torch.equal(strided_vp_sigmas(abar, steps), expected)


def test_a_single_karras_level_is_float64():
    assert karras_sigmas(1, 0.01, 10.0).dtype == torch.float64


def test_noise_columns_broadcast_against_input_or_output_items():
    """``noise_column()`` (input space, the default) and ``noise_column("output")`` differ when the
    operator changes the number of item axes (here (1, 4, 4) -> (5,))."""
    from projdiff.engine.observation import Problem
    from projdiff.operators import CompressedSensing

    op = CompressedSensing((1, 4, 4), 5, generator=torch.Generator().manual_seed(0))
    problem = Problem(op, torch.zeros(3, 5), torch.tensor([0.1, 0.2, 0.3]))
    assert problem.noise_column().shape == (1, 3, 1, 1, 1)
    assert problem.noise_column("input").shape == (1, 3, 1, 1, 1)
    assert problem.noise_column("output").shape == (1, 3, 1)
    assert problem.noise_column("output").flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_a_single_projdiff_level_is_float64():
    assert projdiff_sigmas(1, 0.002, 80.0, 0.5).dtype == torch.float64


class _Bare:
    """An operator with a shape and nothing else: no ``equivalent_noise``."""

    input_shape, output_shape = (3,), (2,)


class _Float32(_Bare):
    def equivalent_noise(self, sigma_y):
        return (2 * sigma_y).float()


def test_equivalent_noise_columns():
    """Noise-free items need no ``equivalent_noise`` (zeros); noisy ones name what is missing; the values
    keep sigma_y's dtype (float64 here, where the operator answers in float32)."""
    from projdiff.engine.observation import Problem
    from projdiff.operators import Inpainting

    quiet = Problem(_Bare(), torch.zeros(2, 2), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(quiet.equivalent_noise_column(), torch.zeros(1, 2, 1, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^operator: method 'this method with sigma_y > 0' needs equivalent_noise\(\)"):
        Problem(_Bare(), torch.zeros(2, 2), torch.tensor([0.0, 0.1], dtype=torch.float64)).equivalent_noise_column()
    op = Inpainting(torch.tensor([1.0, 0.0, 1.0]))
    column = Problem(op, torch.zeros(2, 3), torch.tensor([0.1, 0.2], dtype=torch.float64)).equivalent_noise_column()
    assert column.dtype == torch.float64 and column.shape == (1, 2, 1)
    torch.testing.assert_close(column.flatten(), torch.tensor([0.1, 0.2], dtype=torch.float64))
    halves = Problem(_Float32(), torch.zeros(2, 2), torch.tensor([0.1, 0.2], dtype=torch.float64))
    assert halves.equivalent_noise_column().dtype == torch.float64


def test_default_sigmas_are_projdiffs_unless_a_baseline_is_named():
    from projdiff.engine.solve import default_sigmas
    from projdiff.priors import GaussianPrior

    prior = GaussianPrior(torch.zeros(4), torch.eye(4) * 0.25)
    torch.testing.assert_close(default_sigmas(prior, 20), projdiff_sigmas(20, prior.sigma_min, prior.sigma_max, 0.5))
    torch.testing.assert_close(default_sigmas(prior, 20, "dps"), karras_sigmas(20, prior.sigma_min, prior.sigma_max))
