"""DiffPIR: denoising diffusion models for plug-and-play image restoration (Zhu et al., CVPRW 2023).

Each step denoises, ``x0 = D(x, sigma)``, solves the data sub-problem
``x0c = argmin_z ||A z - y||^2 + rho ||z - x0||^2`` with ``rho = lam * sigma_y^2 / sigma^2``
(``operator.prox``; for noise-free items ``rho = 0`` and the step is the projection onto
``{A z = y}``), and moves to the next level with
``x = x0c + sigma_next * (sqrt(1 - zeta) * eps + sqrt(zeta) * z)``, ``eps = (x - x0c) / sigma`` and
fresh ``z``. ``lam = 7`` is the paper's value (also deepinv's default); ``zeta = 0.3`` the paper's
most used setting. Needs a linear operator with ``prox``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from projdiff.engine.ancestral import levels, report
from projdiff.engine.observation import Problem


@torch.no_grad()
def sample_diffpir(denoise: Callable, problem: Problem, sigmas: torch.Tensor, draw: Callable, *, lam: float = 7.0,
                   zeta: float = 0.3, callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Run DiffPIR; returns samples (K, B, *input_shape). NFE = steps."""
    problem.require("prox", method="diffpir")
    if not 0 <= zeta <= 1:
        raise ValueError(f"zeta: expected a float in [0, 1], got {zeta}")
    op, y = problem.operator, problem.y
    sigma_y = problem.noise_column("output")
    x = float(sigmas[0]) * draw()
    for i, sigma, sigma_next in levels(sigmas, progress, "diffpir"):
        x0 = denoise(x, sigma)
        rho = lam * sigma_y**2 / sigma**2
        x0c = op.prox(x0, y, rho) if bool((rho > 0).any()) else op.project(x0, y)
        eps = (x - x0c) / sigma
        x = x0c + sigma_next * (math.sqrt(1 - zeta) * eps + math.sqrt(zeta) * draw())
        report(callback, i, sigma, x, x0, x0c)
    return x
