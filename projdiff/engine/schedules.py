"""Noise-level schedules: pure functions returning descending sigma tensors (sigma-space).

ProjDiff iterates over positive noise levels only, so no trailing zero is appended; the solver's
first denoiser call is made at ``sigmas[0]`` and its last iteration at ``sigmas[-1]``.
A variance-preserving model's schedule enters through ``alphas_cumprod`` and is converted here,
once: ``sigma_t = sqrt((1 - abar_t) / abar_t)``.
"""

from __future__ import annotations

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
