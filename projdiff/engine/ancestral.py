"""Shared pieces of the baseline samplers: DDIM/DDPM-style steps in sigma-space."""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm


def ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """Split a step from ``sigma`` to ``sigma_next`` into a deterministic and a fresh-noise part.

    Returns ``(sigma_down, sigma_up)`` with ``sigma_down^2 + sigma_up^2 = sigma_next^2``;
    ``eta = 1`` is the DDPM (ancestral) step, ``eta = 0`` the deterministic DDIM step. In
    sigma-space this equals DDIM's ``sigma_t(eta)`` for variance-preserving models.
    """
    if sigma_next == 0:
        return 0.0, 0.0
    up = min(sigma_next, eta * math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2))
    return math.sqrt(max(sigma_next**2 - up**2, 0.0)), up


def step_to(x: torch.Tensor, x0: torch.Tensor, sigma: float, down: float, up: float,
            noise: torch.Tensor) -> torch.Tensor:
    """``x0 + down * (x - x0) / sigma + up * noise``: move to the next noise level."""
    return x0 + (down / sigma) * (x - x0) + up * noise


def levels(sigmas: torch.Tensor, progress: bool, name: str):
    """Iterate ``(i, sigma, sigma_next)`` over the noise levels with a final 0."""
    values = [float(s) for s in sigmas] + [0.0]
    for i in tqdm(range(len(values) - 1), disable=not progress, desc=name, unit="step"):
        yield i, values[i], values[i + 1]


def report(callback: Callable[[dict], None] | None, step: int, sigma: float, x: torch.Tensor,
           denoised: torch.Tensor, x0: torch.Tensor) -> None:
    """Call the user's callback with the intermediates every sampler shares."""
    if callback is not None:
        callback({"step": step, "sigma": sigma, "x_t": x, "denoised": denoised, "x0": x0})
