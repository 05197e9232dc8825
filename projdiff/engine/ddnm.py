"""DDNM+ (Wang, Yu, Zhang; ICLR 2023), with DDRM-style per-mode noise for spectral operators.

At each level the denoised estimate ``x0 = D(x, sigma)`` is moved towards the measurement,
``x0c = x0 + lam * (P_y(x0) - x0)`` where ``P_y`` is the projection onto ``{A x = y}`` (so
``lam = 1`` replaces the range-space part by ``A^+ y``: the null-space decomposition), then a DDIM
step with stochasticity ``eta`` follows, driven by the network's noise estimate ``(x - x0) / sigma``.

With noisy measurements ``A^+ y`` carries noise of level ``sigma_a``: ``operator.equivalent_noise``
for tight frames, or ``sigma_y / s_i`` per singular mode when the operator has a spectral
decomposition (coordinates ``V^T x``, as in DDRM; this is what makes noisy deblurring work).
The correction is scaled so that this noise never exceeds the step's fresh noise,
``lam = min(1, sigma_up / sigma_a)``, and the fresh noise added to the observed coordinates is
reduced to ``sqrt(sigma_up^2 - (lam sigma_a)^2)`` (DDNM+). ``eta = 0.85`` is the value of the
paper's configurations; time-travel (its optional resampling) is not used.
"""

from __future__ import annotations

from typing import Callable

import torch

from projdiff.engine.ancestral import ancestral_step, levels, report
from projdiff.engine.observation import Problem, build_mode_space


@torch.no_grad()
def sample_ddnm(denoise: Callable, problem: Problem, sigmas: torch.Tensor, draw: Callable, *, eta: float = 0.85,
                callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Run DDNM+; returns samples (K, B, *input_shape). NFE = steps."""
    space = build_mode_space(problem, per_mode=None)
    to, back, sigma_a = space.to_modes, space.from_modes, space.sigma_a
    zero = space.project(torch.zeros_like(to(problem.operator.adjoint(problem.y))).expand_as(to(draw())))
    x = float(sigmas[0]) * draw()
    for i, sigma, sigma_next in levels(sigmas, progress, "ddnm"):
        x0 = denoise(x, sigma)
        z0 = to(x0)
        down, up = ancestral_step(sigma, sigma_next, eta)
        lam = torch.where(sigma_a > 0, (up / sigma_a.clamp_min(1e-30)).clamp(max=1.0), torch.ones_like(sigma_a))
        z0c = z0 + lam * (space.project(z0) - z0)
        noise = to(draw())
        observed = noise - (space.project(noise) - zero)   # the part of the noise that A sees
        up_observed = (up**2 - (lam * sigma_a) ** 2).clamp_min(0).sqrt()
        z = z0c + (down / sigma) * (to(x) - z0) + up * (noise - observed) + up_observed * observed
        x = back(z)
        report(callback, i, sigma, x, x0, back(z0c))
    return x
