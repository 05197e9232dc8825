"""PiGDM: pseudoinverse-guided diffusion models (Song, Vahdat, Mardani, Kautz; ICLR 2023), in sigma-space.

The likelihood of ``y`` given the noisy state is approximated by a Gaussian around the denoised
estimate ``x0 = D(x, sigma)`` with variance ``r^2 = sigma^2 / (1 + sigma^2)`` (the paper's choice):
``p(y | x) ~ N(A x0, r^2 A A^T + sigma_y^2 I)``. Its score,
``g = (dx0/dx)^T A^T (r^2 A A^T + sigma_y^2 I)^-1 (y - A x0)``, is a vector-Jacobian product
through the denoiser, and Tweedie's formula turns it into the conditional estimate
``x0c = x0 + sigma^2 g`` (the conditional score plugged into the denoiser, as deepinv's posterior
sampler does); a DDIM step with stochasticity ``eta`` (1, the paper's noisy-task setting) follows.
Adding the paper's ``sqrt(abar_t) g`` to the DDIM step instead diverges on these grids, since ``g``
grows like ``1 / sigma^2`` for noise-free data. Learned priors can still diverge at large ``sigma``
where the denoiser's Jacobian is not small (measured in ``benchmarks/RESULTS.md``). Needs a linear operator with ``gram_solve``; one backward pass per step.
"""

from __future__ import annotations

from typing import Callable

import torch

from projdiff.engine.ancestral import ancestral_step, levels, report, step_to
from projdiff.engine.observation import Problem


def sample_pigdm(denoise: Callable, problem: Problem, sigmas: torch.Tensor, draw: Callable, *, eta: float = 1.0,
                 callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Run PiGDM; returns samples (K, B, *input_shape). NFE = steps (each with a backward pass)."""
    problem.require("gram_solve", "adjoint", method="pigdm")
    op, y = problem.operator, problem.y
    sigma_y2 = problem.noise_column("output") ** 2
    x = float(sigmas[0]) * draw()
    for i, sigma, sigma_next in levels(sigmas, progress, "pigdm"):
        r2 = sigma**2 / (1 + sigma**2)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, sigma)
            weights = op.gram_solve((y - op(x0)).detach(), sigma_y2 / r2) / r2
            (g,) = torch.autograd.grad(x0, xg, grad_outputs=op.adjoint(weights))
        x0 = x0.detach()
        x0c = x0 + sigma**2 * g
        down, up = ancestral_step(sigma, sigma_next, eta)
        x = step_to(x, x0c, sigma, down, up, draw())
        report(callback, i, sigma, xg.detach(), x0, x0c)
    return x.detach()
