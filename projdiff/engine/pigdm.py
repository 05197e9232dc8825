"""PiGDM: pseudoinverse-guided diffusion models (Song, Vahdat, Mardani, Kautz; ICLR 2023), in sigma-space.

The likelihood of ``y`` given the noisy state is approximated by a Gaussian around the denoised
estimate ``x0 = D(x, sigma)`` with variance ``r^2 = sigma^2 / (1 + sigma^2)`` (the paper's choice):
``p(y | x) ~ N(A x0, r^2 A A^T + sigma_y^2 I)``. The guidance is ``r^2`` times its score,
``(dx0/dx)^T A^T (A A^T + sigma_y^2 / r^2 I)^-1 (y - A x0)`` (a vector-Jacobian product through
the denoiser), added to the estimate: ``x0c = x0 + weight * guidance``; a DDIM step with
stochasticity ``eta`` follows, driven by the network's own noise estimate ``(x - x0) / sigma``.

This is the update of the authors' group's implementation (NVlabs/RED-diff, ``algos/pgdm.py``:
``grad_term_weight = 1``, ``awd = True``; its noise-free ``H^+`` generalised by the paper's
``(r^2 A A^T + sigma_y^2 I)^-1``), converted to sigma-space: there the VP step adds
``sqrt(abar_s) sqrt(abar_t) * grad_vp``, which is ``guidance`` in ``x0``. Two readings that diverge
are not used: Tweedie's ``x0 + sigma^2 * score`` multiplies the score by ``1 + sigma^2`` relative
to this one, so at ``sigma`` ~ 100 an error of 1% in a learned network's Jacobian moves ``x0`` by
hundreds of pixel ranges (non-finite samples with the bundled prior from 25 steps on, measured in
``benchmarks/RESULTS.md`` before this change); the paper's ``sqrt(abar_t) g`` added to the DDIM
step grows like ``1 / sigma^2`` for noise-free data. ``eta = 1`` (fresh noise in every step) is
the default; the reference configuration uses 0. Needs a linear operator with ``gram_solve``;
one backward pass per step.
"""

from __future__ import annotations

from typing import Callable

import torch

from projdiff.engine.ancestral import ancestral_step, levels, report
from projdiff.engine.observation import Problem


def sample_pigdm(denoise: Callable, problem: Problem, sigmas: torch.Tensor, draw: Callable, *, eta: float = 1.0,
                 weight: float = 1.0, callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Run PiGDM; returns samples (K, B, *input_shape). NFE = steps (each with a backward pass).

    Parameters
    ----------
    eta : float in [0, 1], default 1
        DDIM stochasticity (1: DDPM-like ancestral steps).
    weight : float > 0, default 1
        ``grad_term_weight`` of the reference code.
    """
    problem.require("gram_solve", "adjoint", method="pigdm")
    if not 0 <= eta <= 1:
        raise ValueError(f"eta: expected a float in [0, 1], got {eta}")
    if not weight > 0:
        raise ValueError(f"weight: expected a float > 0, got {weight}")
    op, y = problem.operator, problem.y
    sigma_y2 = problem.noise_column("output") ** 2
    x = float(sigmas[0]) * draw()
    for i, sigma, sigma_next in levels(sigmas, progress, "pigdm"):
        r2 = sigma**2 / (1 + sigma**2)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, sigma)
            weights = op.gram_solve((y - op(x0)).detach(), sigma_y2 / r2)
            (guidance,) = torch.autograd.grad(x0, xg, grad_outputs=op.adjoint(weights))
        x0 = x0.detach()
        x0c = x0 + weight * guidance
        down, up = ancestral_step(sigma, sigma_next, eta)
        x = x0c + (down / sigma) * (x - x0) + up * draw()
        report(callback, i, sigma, xg.detach(), x0, x0c)
    return x.detach()
