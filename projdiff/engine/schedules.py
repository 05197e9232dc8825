"""Noise-level schedules: pure functions returning descending sigma tensors (sigma-space).

ProjDiff iterates over positive noise levels only, so no trailing zero is appended; the solver's
first denoiser call is made at ``sigmas[0]`` and its last iteration at ``sigmas[-1]``.
A variance-preserving model's schedule enters through ``alphas_cumprod`` and is converted here,
once: ``sigma_t = sqrt((1 - abar_t) / abar_t)``.
"""

from __future__ import annotations

import math

import torch


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022) schedule: ``steps`` levels from ``sigma_max`` down to ``sigma_min``.

    Returns a float64 tensor of shape (steps,), descending; a single step gives ``[sigma_max]``.
    """
    if steps == 1:
        return torch.tensor([float(sigma_max)], dtype=torch.float64)
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


PROJDIFF_START = 4.0
"""ProjDiff's first noise level, in units of the prior's ``sigma_data``."""

PROJDIFF_MIDDLE = 0.3
"""Where ProjDiff's coarse levels end and its fine levels begin, in units of ``sigma_data``."""

PROJDIFF_COARSE = 30
"""Levels above ``PROJDIFF_MIDDLE * sigma_data`` (at most half of them when there are fewer than 60)."""

PROJDIFF_RESOLUTION = 200.0
"""ProjDiff's last noise level is at least ``sigma_data / PROJDIFF_RESOLUTION`` (about the rounding
noise of 8-bit data: a quarter of the range / 255 / sqrt(12) = sigma_data / 220)."""


def _geometric(count: int, high: float, low: float) -> torch.Tensor:
    if count == 1:
        return torch.tensor([high], dtype=torch.float64)
    return torch.logspace(math.log10(high), math.log10(low), count, dtype=torch.float64)


def projdiff_sigmas(steps: int, sigma_min: float, sigma_max: float, sigma_data: float | None = None) -> torch.Tensor:
    """ProjDiff's default schedule: a few coarse levels, then most of them at low noise.

    With ``sigma_data`` known: ``min(PROJDIFF_COARSE, steps // 2)`` geometrically spaced levels from
    ``min(sigma_max, 4 sigma_data)`` down to (not including) ``0.3 sigma_data``, then the remaining
    levels geometrically from ``0.3 sigma_data`` down to ``max(sigma_min, sigma_data / 200)``.
    Unknown ``sigma_data``: geometric over the prior's whole range ``[sigma_min, sigma_max]``.

    Why (measured in ``benchmarks/RESULTS.md``, engine sections): ProjDiff starts from the
    projected denoised estimate, so levels far above the data's scale only repeat that estimate
    (10 Karras levels from sigma_max left random inpainting with the bundled image prior 3 dB
    behind DDRM); its updates are Langevin steps of size ``~sigma^2``, so strongly correlated
    posteriors need many levels at low noise, where Karras's rho = 7 spacing is sparse in
    log-sigma (per-sample error 3.2 MMSE instead of 2 on a smooth 8x8 prior at 100 steps); and the
    coarse levels, where mixture components and a learned prior's image structure are decided,
    still need about thirty of a hundred.

    Returns a float64 tensor of shape (steps,), descending.
    """
    if sigma_data is None:
        return _geometric(steps, float(sigma_max), min(float(sigma_min), float(sigma_max)))
    high = min(float(sigma_max), PROJDIFF_START * sigma_data)
    low = min(max(float(sigma_min), sigma_data / PROJDIFF_RESOLUTION), high)
    middle = min(max(PROJDIFF_MIDDLE * sigma_data, low), high)
    if steps == 1:
        return torch.tensor([high], dtype=torch.float64)
    coarse = min(PROJDIFF_COARSE, steps // 2)
    top = _geometric(coarse + 1, high, middle)[:-1]
    return torch.cat([top, _geometric(steps - coarse, middle, low)])


def linear_beta_alphas_cumprod(num_train_timesteps: int = 1000, beta_start: float = 1e-4,
                               beta_end: float = 0.02) -> torch.Tensor:
    """``abar_t = prod_{s <= t} (1 - beta_s)`` for DDPM's linear betas; float64, shape (T,)."""
    betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0)


def alphas_cumprod_to_sigmas(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Sigma of every discrete time step (ascending with t): ``sqrt((1 - abar) / abar)``."""
    abar = alphas_cumprod.to(torch.float64)
    return ((1 - abar) / abar).sqrt()


def strided_vp_sigmas(alphas_cumprod: torch.Tensor, steps: int) -> torch.Tensor:
    """The reference implementation's grid: time steps ``0, k, 2k, ... < T`` with ``k = T // steps``.

    Returns the sigmas of those steps in descending order, shape (T // k,) (equal to ``steps``
    when ``steps`` divides T). With T = 1000 and 100 steps this is t = 990, 980, ..., 0.
    """
    grid = alphas_cumprod_to_sigmas(alphas_cumprod)
    stride = max(1, grid.shape[0] // steps)
    return grid[torch.arange(0, grid.shape[0], stride)].flip(0)
