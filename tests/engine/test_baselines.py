"""Baseline samplers behind solve(method=...): DPS, DDNM+, DiffPIR, PiGDM."""

import pytest
import torch

import projdiff
from projdiff.operators import Inpainting, NonlinearOperator
from projdiff.priors import GaussianPrior
from projdiff.testing.conformance import evaluate, problems, projdiff_solver

BASELINES = ["dps", "ddnm", "diffpir", "pigdm"]
PROBLEMS = {p.name: p for p in problems()}


def _prior(n=16):
    t = torch.arange(n, dtype=torch.float64)
    cov = torch.exp(-(t[:, None] - t[None]) ** 2 / 8) + 1e-2 * torch.eye(n, dtype=torch.float64)
    return GaussianPrior(torch.zeros(n), cov, sigma_max=20.0)


@pytest.mark.parametrize("method", BASELINES)
def test_each_baseline_is_deterministic_and_counts_its_calls(method):
    prior = _prior()
    op = Inpainting.random((16,), 0.5, generator=torch.Generator().manual_seed(0))
    y = op(prior.sample(3, torch.Generator().manual_seed(1)))
    a = projdiff.solve(op, prior, y, sigma_y=0.05, steps=12, num_samples=2, seed=0, method=method, progress=False)
    b = projdiff.solve(op, prior, y, sigma_y=0.05, steps=12, num_samples=2, seed=0, method=method, progress=False)
    assert torch.equal(a.samples, b.samples) and a.samples.shape == (2, 3, 16)
    assert a.nfe == 12


@pytest.mark.parametrize("method", ["ddnm", "diffpir"])
def test_projection_based_baselines_fit_noise_free_data(method):
    prior = _prior()
    op = Inpainting.random((16,), 0.5, generator=torch.Generator().manual_seed(0))
    y = op(prior.sample(2, torch.Generator().manual_seed(1)))
    res = projdiff.solve(op, prior, y, steps=20, seed=0, method=method, progress=False)
    torch.testing.assert_close(op(res.x), y, atol=1e-6, rtol=0)


@pytest.mark.parametrize("method, name", [("ddnm", "gauss-sr2-s0"), ("ddnm", "gauss-blur-s0"),
                                          ("pigdm", "gauss-sr2-s0"), ("pigdm", "gauss-blur-s0.1")])
def test_baselines_sample_sensibly_where_they_are_designed_to(method, name):
    r = evaluate(PROBLEMS[name], projdiff_solver(method=method), draws=32, num_samples=19)
    assert 1.6 <= r["per_sample"] <= 2.6 and 0.8 <= r["coverage"] <= 0.97


def test_dps_handles_a_nonlinear_operator_and_options_are_checked():
    prior = _prior(8)
    op = NonlinearOperator(lambda x: torch.tanh(x[:, :4]), (8,))
    y = op(prior.sample(1, torch.Generator().manual_seed(2)).float())
    res = projdiff.solve(op, prior, y, sigma_y=0.01, steps=20, seed=0, method="dps", progress=False)
    assert bool(torch.isfinite(res.x).all())
    with pytest.raises(TypeError, match="zeta not understood by method 'ddnm'"):
        projdiff.solve(op, prior, y, method="ddnm", zeta=1.0, progress=False)
    with pytest.raises(TypeError, match="method 'ddnm' needs|needs"):
        projdiff.solve(NonlinearOperator(lambda x: x, (8,)), prior, torch.zeros(1, 8), method="diffpir",
                       progress=False)

