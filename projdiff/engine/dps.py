"""DPS: diffusion posterior sampling (Chung, Kim, Mccann, Klasky, Ye; ICLR 2023).

Each step takes the ancestral (DDPM) step from the denoised estimate ``x0 = D(x, sigma)`` and then
a gradient step on ``||y - A(x0(x))||``, back-propagated through the denoiser:

``x_next <- x_next - zeta * sqrt((1 + sigma^2)(1 + sigma_next^2)) * grad_x ||y - A(x0(x))||``.

The factor converts the paper's step, taken on variance-preserving states
``x_vp = x / sqrt(1 + sigma^2)``, to sigma-space. ``zeta = 1`` is the step the official code uses
for super-resolution, inpainting and Gaussian deblurring on FFHQ (its ``scale`` of 1.0 in the task
configs) with the norm (not squared) residual. Unlike the official code the norm is taken per item,
so items of a batch do not influence each other. Works with nonlinear operators (only
``forward`` is needed); costs one backward pass through the denoiser per step.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from projdiff.engine.ancestral import ancestral_step, levels, report, step_to
from projdiff.engine.observation import Problem


def sample_dps(denoise: Callable, problem: Problem, sigmas: torch.Tensor, draw: Callable, *, zeta: float = 1.0,
               eta: float = 1.0, callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Run DPS; returns samples (K, B, *input_shape). NFE = steps (each with a backward pass).

    Parameters
    ----------
    zeta : float, default 1.0
        Guidance step (see the module docstring).
    eta : float, default 1.0
        1: DDPM ancestral steps (the paper); 0: deterministic DDIM steps.
    """
    op, y = problem.operator, problem.y
    event = tuple(range(2, 2 + len(op.output_shape)))
    x = float(sigmas[0]) * draw()
    for i, sigma, sigma_next in levels(sigmas, progress, "dps"):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, sigma)
            residual = (y - op(x0)).pow(2).sum(dim=event).sqrt()
            grad = torch.autograd.grad(residual.sum(), xg)[0]
        x0 = x0.detach()
        down, up = ancestral_step(sigma, sigma_next, eta)
        x_next = step_to(x, x0, sigma, down, up, draw())
        x = x_next - zeta * math.sqrt((1 + sigma**2) * (1 + sigma_next**2)) * grad
        report(callback, i, sigma, xg.detach(), x0, x0)
    return x.detach()
