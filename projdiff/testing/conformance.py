"""Exact-posterior conformance: score a solver against the true posterior of analytic problems.

With a Gaussian or Gaussian-mixture prior and a linear operator with Gaussian noise the posterior
is known in closed form, so a solver's samples can be compared with the truth. For each problem we
draw ``x ~ prior`` and ``y = A x + sigma_y n`` several times, ask the solver for K samples per
``y``, and report

- ``per_sample``: ``E||s - x||^2 / MMSE``; an exact posterior sampler gives 2;
- ``mean_of_k``: ``E||mean_k(s) - x||^2 / MMSE``; exact: ``1 + 1/K``;
- ``coverage``: how often ``x`` lies inside the solver's 90% credible interval, taken per entry
  from the order statistics of the K samples (ranks ``(K+1)/20`` and ``19 (K+1)/20``, so that an
  exact sampler covers exactly 0.90 in expectation when ``K + 1`` is a multiple of 20); entries the
  measurement fixes exactly (posterior variance 0) are left out;

where ``MMSE = E[trace Cov(x | y)]``, the error of the exact posterior mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from projdiff.engine import linear_beta_alphas_cumprod, solve, strided_vp_sigmas
from projdiff.operators import Blur, CompressedSensing, Inpainting, MatrixOperator, SuperResolution
from projdiff.priors import GaussianMixturePrior, GaussianPrior

SHAPE = (1, 8, 8)


@dataclass
class ConformanceProblem:
    """One conformance problem: a prior, a linear operator and a noise level."""

    name: str
    prior: GaussianMixturePrior
    operator: object
    sigma_y: float
    options: dict = field(default_factory=dict)


def squared_exponential(shape: tuple[int, ...], length: float, nugget: float) -> torch.Tensor:
    """Covariance ``exp(-|p - q|^2 / (2 length^2)) + nugget * I`` over the grid points of ``shape``."""
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape], indexing="ij")
    points = torch.stack([g.flatten() for g in grids], dim=-1)
    dist2 = ((points[:, None] - points[None]) ** 2).sum(-1)
    return torch.exp(-dist2 / (2 * length**2)) + nugget * torch.eye(points.shape[0], dtype=torch.float64)


SIGMA_MAX = 20.0  # the data have unit scale; higher noise levels carry no information


def gaussian_prior() -> GaussianPrior:
    """Smooth 8x8 fields: squared-exponential covariance, length 2 pixels, nugget 1e-2."""
    return GaussianPrior(torch.zeros(SHAPE), squared_exponential(SHAPE[1:], 2.0, 1e-2), sigma_max=SIGMA_MAX)


def gmm_prior() -> GaussianMixturePrior:
    """Four well-separated modes (smooth mean fields) with covariances of two length scales."""
    g = torch.Generator().manual_seed(11)
    base = gaussian_prior()
    means = 1.5 * base.sample(4, g)
    covs = [0.5 * squared_exponential(SHAPE[1:], length, 1e-2) for length in (1.5, 2.5, 1.5, 2.5)]
    return GaussianMixturePrior(torch.full((4,), 0.25), means, covs, sigma_max=SIGMA_MAX)


def operators() -> dict[str, object]:
    """The linear operators of the suite, all on (1, 8, 8) items.

    The blur is the binomial kernel ``[1, 2, 1]^T [1, 2, 1] / 16``: its spectrum ``cos^2`` is
    exactly zero at the highest frequency and at least 0.15 elsewhere, so the noise-free problem
    has a genuine null space instead of a numerically invertible but ill-conditioned operator.
    """
    g = torch.Generator().manual_seed(5)
    dense = torch.randn(24, 64, generator=g, dtype=torch.float64) / 8.0
    binomial = torch.tensor([0.25, 0.5, 0.25])
    return {
        "inpaint30": Inpainting.random(SHAPE, 0.3, generator=torch.Generator().manual_seed(3)),
        "sr2": SuperResolution(SHAPE, 2),
        "blur": Blur(binomial[:, None] * binomial[None], SHAPE),
        "cs24": CompressedSensing(SHAPE, 24, generator=torch.Generator().manual_seed(4)),
        "dense24": MatrixOperator(dense, SHAPE),
    }


def reference_problem() -> ConformanceProblem:
    """The reference point: 64-dim 1D Gaussian (length 6, nugget 1e-3), 30% random inpainting,
    noise-free, DDPM linear betas with the reference's strided grid of 100 steps, step size 1."""
    prior = GaussianPrior(torch.zeros(64), squared_exponential((64,), 6.0, 1e-3))
    op = Inpainting.random((64,), 0.3, generator=torch.Generator().manual_seed(0))
    sigmas = strided_vp_sigmas(linear_beta_alphas_cumprod(), 100)
    return ConformanceProblem("reference", prior, op, 0.0, {"sigmas": sigmas, "step_size": 1.0})


def problems(noise_levels: tuple[float, ...] = (0.0, 0.1)) -> list[ConformanceProblem]:
    """Gaussian and GMM priors x {inpainting, SR, blur, CS, dense} x noise levels."""
    out = []
    for prior_name, prior in (("gauss", gaussian_prior()), ("gmm", gmm_prior())):
        for op_name, op in operators().items():
            for sigma in noise_levels:
                out.append(ConformanceProblem(f"{prior_name}-{op_name}-s{sigma:g}", prior, op, sigma))
    return out


Solver = Callable[..., torch.Tensor]


def projdiff_solver(**options) -> Solver:
    """``(operator, prior, y, sigma_y, num_samples, seed, steps) -> samples (K, B, *shape)`` via ``solve``."""
    def run(operator, prior, y, sigma_y, num_samples, seed, steps):
        res = solve(operator, prior, y, sigma_y=sigma_y, steps=steps, num_samples=num_samples, seed=seed,
                             progress=False, **options)
        return res.samples

    return run


def evaluate(problem: ConformanceProblem, solver: Solver | None = None, *, draws: int = 64, num_samples: int = 39,
             steps: int = 100, seed: int = 0) -> dict:
    """Score ``solver`` on ``problem`` (see the module docstring); returns a dict of figures."""
    solver = solver or projdiff_solver(**problem.options)
    g = torch.Generator().manual_seed(seed)
    x = problem.prior.sample(draws, g)
    y = problem.operator(x)
    y = y + problem.sigma_y * torch.randn(y.shape, generator=g, dtype=y.dtype)
    post = problem.prior.posterior(problem.operator, y, problem.sigma_y)
    mmse = float(post.mmse().mean())
    samples = solver(problem.operator, problem.prior, y, problem.sigma_y, num_samples, seed, steps).double()
    per_sample = float(((samples - x) ** 2).flatten(2).sum(-1).mean()) / mmse
    mean_of_k = float(((samples.mean(0) - x) ** 2).flatten(1).sum(-1).mean()) / mmse
    ordered = samples.sort(dim=0).values
    lo, hi = (num_samples + 1) // 20 - 1, 19 * (num_samples + 1) // 20 - 1
    inside = (x >= ordered[lo]) & (x <= ordered[hi])
    free = post.variance > 1e-9 * float(post.variance.max())
    coverage = float(inside[free].double().mean())
    return {"problem": problem.name, "per_sample": per_sample, "mean_of_k": mean_of_k,
            "exact_mean_of_k": 1 + 1 / num_samples, "coverage": coverage, "mmse": mmse, "draws": draws,
            "samples": num_samples, "steps": steps}
