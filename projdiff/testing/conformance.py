"""Exact-posterior conformance: score a solver against the true posterior of analytic problems.

With a Gaussian or Gaussian-mixture prior and a linear operator with Gaussian noise the posterior
is known in closed form, so a solver's samples can be compared with the truth; for the nonlinear
problems the reference is importance sampling from the prior (``testing/importance.py``, 4
million draws with a fixed seed). For each problem we draw ``x ~ prior`` and ``y = A x + sigma_y
n`` several times, ask the solver for K samples per ``y``, and report

- ``per_sample``: ``E||s - x||^2 / MMSE``; an exact posterior sampler gives 2;
- ``mean_of_k``: ``E||mean_k(s) - x||^2 / MMSE``; exact: ``1 + 1/K``;
- ``coverage``: how often ``x`` lies inside the solver's 90% credible interval, taken per entry
  from the order statistics of the K samples (ranks ``(K+1)/20`` and ``19 (K+1)/20``, so that an
  exact sampler covers exactly 0.90 in expectation when ``K + 1`` is a multiple of 20); entries the
  measurement fixes exactly (posterior variance 0) are left out;
- ``spread``: ``E[trace of the samples' covariance] / MMSE``; exact: 1 (below 1: too confident);
- ``weight_error`` (mixture priors): the mean over draws of the total-variation distance between
  the fraction of samples in each component (each sample assigned to its most likely prior
  component) and the exact posterior weights; an exact sampler scores a little above 0 (sampling
  noise of K draws and overlapping components);

where ``MMSE = E[trace Cov(x | y)]``, the error of the exact posterior mean.

Families of problems: ``problems()`` (smooth Gaussian and mixture priors on 8x8 images x
inpainting, super-resolution, blur, compressed sensing, dense matrices, with and without noise),
``function_problems()`` (non-tight operators given only as functions), ``correlated_problems()``
(squared-exponential priors of several correlation lengths and conditionings),
``nonlinear_problems()`` (``tanh(A x)`` and ``|A x|``) and ``mixture_problems()`` (mode weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from projdiff.engine import linear_beta_alphas_cumprod, solve, strided_vp_sigmas
from projdiff.operators import (Blur, CompressedSensing, Inpainting, LinearOperator, MatrixOperator, NonlinearOperator,
                                SuperResolution)
from projdiff.priors import GaussianMixturePrior, GaussianPrior
from projdiff.testing.importance import importance_posterior

SHAPE = (1, 8, 8)


@dataclass
class ConformanceProblem:
    """One conformance problem: a prior, an operator and a noise level.

    ``feasible`` (nonlinear problems only) tells which measurements ``y`` (B, *output_shape) the
    operator can produce: draws with infeasible ``y`` (a negative noisy magnitude) are replaced.
    """

    name: str
    prior: GaussianMixturePrior
    operator: object
    sigma_y: float
    options: dict = field(default_factory=dict)
    feasible: Callable[[torch.Tensor], torch.Tensor] | None = None


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


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _every_other_cumsum(x: torch.Tensor) -> torch.Tensor:
    """The README's custom operator: ``(N, 64) -> (N, 32)``, cumulative sums of every other entry."""
    return torch.cumsum(x[:, ::2], dim=-1)


def _valid_blur(x: torch.Tensor) -> torch.Tensor:
    """A 5-tap 'valid' 1-D blur ``(N, 64) -> (N, 60)`` with taps ``[1, 2, 3, 2, 1] / 9``."""
    taps = torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0], dtype=x.dtype, device=x.device) / 9
    return torch.nn.functional.conv1d(x[:, None], taps[None, None]).squeeze(1)


def function_problems() -> list[ConformanceProblem]:
    """Non-tight linear operators given only as functions (``LinearOperator(forward_fn, shape)``).

    The README's cumulative sum with a white prior (``sigma_y`` 0.01 and 0), a 5-tap valid blur
    and a random 20 x 48 matrix applied by a function, with smooth 1-D priors (length 3, nugget
    1e-2; ``sigma_y`` 0.05 / 0.1 and 0).
    """
    white = GaussianPrior(torch.zeros(64), torch.eye(64), sigma_max=SIGMA_MAX)
    smooth = GaussianPrior(torch.zeros(64), squared_exponential((64,), 3.0, 1e-2), sigma_max=SIGMA_MAX)
    smooth48 = GaussianPrior(torch.zeros(48), squared_exponential((48,), 3.0, 1e-2), sigma_max=SIGMA_MAX)
    matrix = torch.randn(20, 48, generator=_generator(0), dtype=torch.float64) / 48**0.5
    cumsum = LinearOperator(_every_other_cumsum, input_shape=(64,))
    blur = LinearOperator(_valid_blur, input_shape=(64,))
    dense = LinearOperator(lambda x: x @ matrix.T.to(x.dtype), input_shape=(48,))
    out = []
    for name, prior, op, sigma in (("cumsum", white, cumsum, 0.01), ("blur5", smooth, blur, 0.05),
                                   ("dense20x48", smooth48, dense, 0.1)):
        out += [ConformanceProblem(f"func-{name}-s{s:g}", prior, op, s) for s in (sigma, 0.0)]
    return out


CORRELATIONS = ((1.0, 1e-2), (2.0, 1e-2), (4.0, 1e-2), (2.0, 1e-3), (3.0, 1e-3), (4.0, 1e-3))
"""(length in pixels, nugget) of ``correlated_problems``: longer lengths and smaller nuggets make the
posterior strongly correlated and ill-conditioned (the nugget is the smallest prior variance)."""


def correlated_problems() -> list[ConformanceProblem]:
    """Squared-exponential Gaussian priors on 8x8 images (``CORRELATIONS``), 30% inpainting, noise-free,
    and the longest, worst-conditioned one with ``sigma_y`` 0.01."""
    op = Inpainting.random(SHAPE, 0.3, generator=_generator(3))
    out = []
    for length, nugget in CORRELATIONS:
        prior = GaussianPrior(torch.zeros(SHAPE), squared_exponential(SHAPE[1:], length, nugget), sigma_max=SIGMA_MAX)
        out.append(ConformanceProblem(f"corr-L{length:g}-n{nugget:g}-inpaint30-s0", prior, op, 0.0))
    out.append(ConformanceProblem(f"corr-L{length:g}-n{nugget:g}-inpaint30-s0.01", prior, op, 0.01))
    return out


def nonlinear_problems() -> list[ConformanceProblem]:
    """``tanh(A x)`` and ``|A x|`` on a white 4-D Gaussian prior, 3 measurements, ``sigma_y`` 0.05.

    ``A`` is a fixed random 3 x 4 matrix (entries of sd 0.5 for tanh, so that the noisy ``y`` stays
    inside (-1, 1); sd 1 for the magnitudes, whose draws with a negative ``y`` are replaced).
    """
    prior = GaussianPrior(torch.zeros(4), torch.eye(4), sigma_max=SIGMA_MAX)
    mixing = torch.randn(3, 4, generator=_generator(7), dtype=torch.float64)
    tanh = NonlinearOperator(lambda x: torch.tanh(0.5 * x @ mixing.T.to(x.dtype)), (4,))
    magnitude = NonlinearOperator(lambda x: (x @ mixing.T.to(x.dtype)).abs(), (4,))
    return [ConformanceProblem("tanh-Ax-s0.05", prior, tanh, 0.05, feasible=lambda y: (y.abs() < 1).all(-1)),
            ConformanceProblem("abs-Ax-s0.05", prior, magnitude, 0.05, feasible=lambda y: (y >= 0).all(-1))]


def mixture_problems() -> list[ConformanceProblem]:
    """Two-component Gaussian mixtures (weights 0.3 / 0.7, means +-1 in every entry, covariance 0.5 I):
    8-D with 2 entries observed (noise-free and ``sigma_y`` 0.1) and 2-D with 1 observed."""
    out = []
    for dim, observed, sigmas in ((8, 2, (0.0, 0.1)), (2, 1, (0.0,))):
        means = torch.stack([torch.ones(dim), -torch.ones(dim)]).double()
        prior = GaussianMixturePrior(torch.tensor([0.3, 0.7]), means, [0.5 * torch.eye(dim)] * 2, sigma_max=SIGMA_MAX)
        mask = torch.zeros(dim)
        mask[:observed] = 1
        out += [ConformanceProblem(f"mix{dim}-inpaint{observed}-s{s:g}", prior, Inpainting(mask), s) for s in sigmas]
    return out


def extended_problems() -> list[ConformanceProblem]:
    """Every family beyond ``problems()``: function-defined, correlated, nonlinear, mixtures."""
    return function_problems() + correlated_problems() + nonlinear_problems() + mixture_problems()


Solver = Callable[..., torch.Tensor]


def projdiff_solver(**options) -> Solver:
    """``(operator, prior, y, sigma_y, num_samples, seed, steps) -> samples (K, B, *shape)`` via ``solve``."""
    def run(operator, prior, y, sigma_y, num_samples, seed, steps):
        res = solve(operator, prior, y, sigma_y=sigma_y, steps=steps, num_samples=num_samples, seed=seed,
                             progress=False, **options)
        return res.samples

    return run


def _draw(problem: ConformanceProblem, draws: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``draws`` pairs ``(x, y)``; for nonlinear problems, pairs with an infeasible ``y`` are replaced."""
    xs, ys, kept = [], [], 0
    while kept < draws:
        x = problem.prior.sample(draws, g)
        y = problem.operator(x)
        y = y + problem.sigma_y * torch.randn(y.shape, generator=g, dtype=y.dtype)
        ok = torch.ones(draws, dtype=torch.bool) if problem.feasible is None else problem.feasible(y)
        xs.append(x[ok])
        ys.append(y[ok])
        kept += int(ok.sum())
    return torch.cat(xs)[:draws], torch.cat(ys)[:draws]


def reference_posterior(problem: ConformanceProblem, y: torch.Tensor, reference_draws: int = 2**22):
    """The exact posterior (linear operators) or its importance-sampling estimate (nonlinear ones)."""
    if getattr(problem.operator, "linear", False):
        return problem.prior.posterior(problem.operator, y, problem.sigma_y)
    return importance_posterior(problem.prior, problem.operator, y, problem.sigma_y, draws=reference_draws)


def mixture_weights(prior: GaussianMixturePrior, samples: torch.Tensor) -> torch.Tensor:
    """Fraction of the samples (K, B, *shape) in each prior component (most likely one), shape (B, C)."""
    flat = samples.reshape(-1, prior.means.shape[1]).double()
    zero = torch.zeros(flat.shape[0], 1, dtype=torch.float64)
    logits = torch.stack([prior.weights[k].log() + c.log_density(flat - prior.means[k], zero)
                          for k, c in enumerate(prior.covs)], dim=-1)
    chosen = torch.nn.functional.one_hot(logits.argmax(-1), len(prior.covs)).double()
    return chosen.reshape(samples.shape[0], samples.shape[1], -1).mean(0)


def evaluate(problem: ConformanceProblem, solver: Solver | None = None, *, draws: int = 64, num_samples: int = 39,
             steps: int = 100, seed: int = 0, reference_draws: int = 2**22, cache: dict | None = None) -> dict:
    """Score ``solver`` on ``problem`` (see the module docstring); returns a dict of figures.

    ``weight_error`` is ``None`` unless the prior is a mixture and the operator linear;
    ``reference_draws`` is the importance-sampling budget of nonlinear problems. ``cache`` (a
    dict the caller keeps) reuses the draws and the reference posterior of an earlier call with the
    same problem, draws, seed and budget, so scoring several solvers pays for importance sampling once.
    """
    solver = solver or projdiff_solver(**problem.options)
    key = (problem.name, draws, seed, reference_draws)
    if cache is not None and key in cache:
        x, y, post = cache[key]
    else:
        g = torch.Generator().manual_seed(seed)
        x, y = _draw(problem, draws, g)
        post = reference_posterior(problem, y, reference_draws)
        if cache is not None:
            cache[key] = (x, y, post)
    mmse = float(post.mmse().mean())
    samples = solver(problem.operator, problem.prior, y, problem.sigma_y, num_samples, seed, steps).double()
    per_sample = float(((samples - x) ** 2).flatten(2).sum(-1).mean()) / mmse
    mean_of_k = float(((samples.mean(0) - x) ** 2).flatten(1).sum(-1).mean()) / mmse
    spread = float(samples.var(0).flatten(1).sum(-1).mean()) / mmse
    ordered = samples.sort(dim=0).values
    lo, hi = (num_samples + 1) // 20 - 1, 19 * (num_samples + 1) // 20 - 1
    inside = (x >= ordered[lo]) & (x <= ordered[hi])
    free = post.variance > 1e-9 * float(post.variance.max())
    coverage = float(inside[free].double().mean())
    weight_error = None
    if len(problem.prior.covs) > 1 and hasattr(post, "weights"):
        found = mixture_weights(problem.prior, samples)
        weight_error = float(0.5 * (found - post.weights).abs().sum(-1).mean())
    return {"problem": problem.name, "per_sample": per_sample, "mean_of_k": mean_of_k,
            "exact_mean_of_k": 1 + 1 / num_samples, "coverage": coverage, "spread": spread,
            "weight_error": weight_error, "mmse": mmse, "draws": draws, "samples": num_samples, "steps": steps}


def exact_solver(operator, prior, y, sigma_y, num_samples, seed, steps) -> torch.Tensor:
    """Exact posterior draws (linear operators): the reference figures of a perfect sampler."""
    return prior.posterior(operator, y, sigma_y).sample(num_samples, torch.Generator().manual_seed(seed))
