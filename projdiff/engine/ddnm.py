"""DDNM / DDNM+ (Wang, Yu, Zhang; ICLR 2023), as in the official code, in sigma-space.

At each level the denoised estimate ``x0 = D(x, sigma)`` is corrected towards the measurement in
the observed coordinates and a DDIM-style step goes to the next level ``sigma'``. The
coordinates are those of ``observation.build_mode_space``: singular modes ``V^T x`` for spectral
operators with noisy data (noise level ``sigma_a = sigma_y / s_i`` of ``A^+ y`` in mode ``i``, as
in DDRM), ``x`` itself otherwise (``sigma_a = operator.equivalent_noise(sigma_y)``); the observed
part of a vector is what the projection onto ``{A x = y}`` replaces. With ``eps = (x - x0) /
sigma`` the network's noise estimate and ``n`` fresh noise:

- unobserved coordinates, and every coordinate of a noise-free item (DDNM):
  ``x' = P(x0) + sigma' (eta n + sqrt(1 - eta^2) eps)``, the null-space decomposition;
- observed coordinates of a noisy item (DDNM+, Eq. 17 and the noise of Eq. 51 of the official
  ``svd_operators.Lambda`` / ``Lambda_noise``): where ``sigma' >= sigma_a`` the coordinate is
  replaced by ``A^+ y`` and fresh noise ``sqrt(sigma'^2 - sigma_a^2) n`` tops its noise up to
  ``sigma'``; below, it moves towards ``A^+ y`` by ``lam = sigma' sqrt(1 - eta^2) / sigma_a`` and
  gets fresh noise ``eta sigma' n`` (no ``eps`` term), so that the total noise is ``sigma'``.

The last step (``sigma' = 0``) returns the corrected estimate: ``P(x0)`` for noise-free items and
the uncorrected ``x0`` in observed coordinates of noisy items (``lam = 0``). By design DDNM+ is
over-confident where it observes noisy data: the noise of ``A^+ y`` is the same for every sample of
one ``y`` but counts as part of the diffusion noise, so the samples spread less than the posterior
there (about 0.2 of its variance on the observed entries of noisy inpainting, and weakly observed
blur modes alike; measured by the conformance benchmarks). ``eta = 0.85`` is the
paper's configuration value; time-travel (its optional resampling) is not used. The official code
runs on DDPM's strided grid; here any decreasing grid.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from projdiff.engine.ancestral import levels, report
from projdiff.engine.observation import Problem, build_mode_space


@torch.no_grad()
def sample_ddnm(denoise: Callable, problem: Problem, sigmas: torch.Tensor, draw: Callable, *, eta: float = 0.85,
                callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Run DDNM+; returns samples (K, B, *input_shape). NFE = steps."""
    if not 0 <= eta <= 1:
        raise ValueError(f"eta: expected a float in [0, 1], got {eta}")
    space = build_mode_space(problem, per_mode=None)
    to, back, sigma_a = space.to_modes, space.from_modes, space.sigma_a
    x = float(sigmas[0]) * draw()
    zero = space.project(torch.zeros_like(to(x)))
    noisy = problem.sigma_y.reshape(1, -1, *([1] * (zero.dim() - 2))) > 0

    def observed(v: torch.Tensor) -> torch.Tensor:
        """The part of ``v`` that the projection replaces (``v - (P(v) - P(0))``)."""
        return v - (space.project(v) - zero)

    for i, sigma, sigma_next in levels(sigmas, progress, "ddnm"):
        x0 = denoise(x, sigma)
        z0 = to(x0)
        eps = (to(x) - z0) / sigma
        ahead = sigma_next >= sigma_a
        lam = torch.where(noisy & ~ahead, sigma_next * math.sqrt(1 - eta**2) / sigma_a.clamp_min(1e-30),
                          torch.ones_like(sigma_a))
        z0c = z0 + lam * (space.project(z0) - z0)
        noise = to(draw())
        ddim = sigma_next * (eta * noise + math.sqrt(1 - eta**2) * eps)
        top_up = torch.where(ahead, (sigma_next**2 - sigma_a**2).clamp_min(0).sqrt(), eta * sigma_next) * noise
        z = z0c + ddim + observed(torch.where(noisy, top_up - ddim, torch.zeros_like(ddim)))
        x = back(z)
        report(callback, i, sigma, x, x0, back(z0c))
    return x
