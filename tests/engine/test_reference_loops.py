"""The samplers against independent answers: a literal ProjDiff loop, and accuracy ranges on exact posteriors.

The option tests in ``test_engine_operators.py`` only check that an option changes the result and
stays deterministic; a wrong formula passes them. Here ``sample_projdiff`` must give the same
numbers as the algorithm box written out below, on a noisy per-mode problem (every mode has its
own ``sigma_a``), and every method must land in a range of per-sample MSE / MMSE around the exact
sampler's 2 on two exact-posterior problems.
"""

import math

import pytest
import torch

import projdiff
from projdiff.engine.observation import Problem, build_mode_space
from projdiff.engine.projdiff_sampler import sample_projdiff
from projdiff.operators import Blur, gaussian_kernel
from projdiff.priors import GaussianPrior
from projdiff.testing import conformance

SHAPE = (1, 7, 8)


def smooth_prior(shape, length=2.0):
    grids = torch.meshgrid(*[torch.arange(s, dtype=torch.float64) for s in shape], indexing="ij")
    pts = torch.stack([g.flatten() for g in grids], -1)
    cov = torch.exp(-((pts[:, None] - pts[None]) ** 2).sum(-1) / (2 * length**2)) + 1e-2 * torch.eye(len(pts))
    return GaussianPrior(torch.zeros(shape), cov, sigma_max=20.0)


def reference_projdiff(denoise, problem, sigmas, draw, *, lr, momentum=0.0, inner_steps=1, bridge="stochastic",
                       restricted_encoding=False):
    """ProjDiff as the module docstring states it, one coordinate rule at a time (no shared code but the modes)."""
    space = build_mode_space(problem, None)
    to, back, sa = space.to_modes, space.from_modes, space.sigma_a
    levels = [float(s) for s in sigmas]
    z = draw()
    x0 = to(denoise(levels[0] * z, levels[0]))
    xa = space.project(x0 + sa * to(draw()))
    x0 = torch.where(sa == 0, xa, x0)
    v = None
    for i, sigma in enumerate(levels):
        following = levels[i + 1] if i + 1 < len(levels) else 0.0
        for _ in range(inner_steps):
            eps = to(draw())
            if restricted_encoding:                          # (s'/s) z + sqrt(1 - (s'/s)^2) eps
                eps = (following / sigma) * to(z) + math.sqrt(1 - (following / sigma) ** 2) * eps
            noisier = xa + torch.sqrt(torch.clamp(sigma**2 - sa**2, min=0)) * eps
            r = torch.where(sa > 0, sigma / torch.where(sa > 0, sa, 1.0), 1.0).clamp(max=1)
            if bridge == "stochastic":                       # Brownian bridge from x0 to x_a
                bridged = x0 + r**2 * (xa - x0) + sigma * torch.sqrt(1 - r**2) * eps
            else:
                bridged = x0 + r * (xa - x0)
            xt = torch.where(sigma >= sa, noisier, bridged)
            d = to(denoise(back(xt), sigma)) - x0
            v = d if v is None else momentum * v + (1 - momentum) * d   # the momentum average
            x0 = x0 + lr(sigma, following) * v
            xa = torch.where(sigma >= sa, space.project(x0 + sa * to(draw())), xa)
            x0 = torch.where(sa == 0, xa, x0)
    return back(x0)


def noisy_per_mode_problem():
    prior = smooth_prior(SHAPE)
    op = Blur(gaussian_kernel(0.8), SHAPE)
    x = prior.sample(2, torch.Generator().manual_seed(1))
    y = op(x) + 0.1 * torch.randn(op(x).shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    problem = Problem(op, y, torch.full((2,), 0.1, dtype=torch.float64))
    assert build_mode_space(problem, None).sigma_a.shape[-3:] == SHAPE      # the per-mode path
    return prior, problem


def run_both(**options):
    prior, problem = noisy_per_mode_problem()
    sigmas = torch.tensor([3.0, 1.5, 0.7, 0.3, 0.12, 0.05, 0.01], dtype=torch.float64)

    def denoise(x, sigma):
        flat = x.reshape(-1, *SHAPE)
        return prior.denoise(flat, torch.full((flat.shape[0],), sigma, dtype=torch.float64)).reshape(x.shape)

    def draws(seed):
        g = torch.Generator().manual_seed(seed)
        return lambda: torch.randn((3, 2, *SHAPE), generator=g, dtype=torch.float64)

    ours = sample_projdiff(denoise, problem, sigmas, draws(7), step_size="auto", **options)
    theirs = reference_projdiff(denoise, problem, sigmas, draws(7), lr=lambda s, n: 1 + 0.8 * n / s, **options)
    return ours, theirs


@pytest.mark.parametrize("options", [
    dict(), dict(momentum=0.6), dict(restricted_encoding=True), dict(momentum=0.3, restricted_encoding=True),
    dict(bridge="deterministic"), dict(inner_steps=2, momentum=0.5)],
    ids=["default", "momentum", "restricted-encoding", "both", "deterministic-bridge", "inner-steps"])
def test_projdiff_options_match_the_literal_algorithm(options):
    """Guards the momentum average ``m v + (1 - m) d`` and the restricted-encoding noise mix."""
    ours, theirs = run_both(**options)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


SCORED = ("gauss-sr2-s0.1", "gauss-blur-s0.1")


@pytest.mark.parametrize("method", ["projdiff", "dps", "ddnm", "diffpir", "pigdm"])
@pytest.mark.parametrize("name", SCORED)
def test_every_method_lands_near_the_exact_posterior(name, method):
    """Per-sample MSE / MMSE in [1.3, 4.5] (exact sampler: 2) at 30 steps: guards guidance signs and scales
    (a reversed DPS gradient gives thousands) and collapse onto the mean (about 1)."""
    problem = next(p for p in conformance.problems() if p.name == name)

    def solver(operator, prior, y, sigma_y, num_samples, seed, steps):
        return projdiff.solve(operator, prior, y, sigma_y=sigma_y, steps=steps, num_samples=num_samples, seed=seed,
                              progress=False, method=method).samples

    score = conformance.evaluate(problem, solver, draws=8, num_samples=8, steps=30)
    assert 1.3 < score["per_sample"] < 4.5, score
