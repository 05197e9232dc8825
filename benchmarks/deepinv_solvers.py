"""deepinv 0.5.0's DPS, DiffPIR, DDRM and PiGDM with the settings the benchmarks use.

Every method makes ``steps`` denoiser calls (NFE = steps) on images in [0, 1] (see
``deepinv_adapter`` for units and operators). Settings and where they come from:

- ``DPS``: ``deepinv.sampling.DPS`` with its defaults (variance-preserving schedule with betas
  0.1..20, DDPM solver, ``weight=1``, ``guidance="norm"``; its docstring: "The default parameters
  correspond to the original DPS algorithm"), ``num_steps = steps + 1`` time points from 1 to 0 (the
  last step lands on t = 0 and needs no call). Each call back-propagates through the denoiser.
- ``DiffPIR``: ``deepinv.sampling.DiffPIR`` with ``data_fidelity=L2()``, ``lambda_=7`` (deepinv's
  default, the paper's value), ``zeta=0.3`` (the paper's most used value; projdiff's own DiffPIR
  uses the same two constants) and ``max_iter = steps``. Its noise level is
  ``max(sigma_y, 1e-3)`` in image units, as in the official code (``sigma = max(0.001,
  noise_level_img)`` in yuanzhi-zhu/DiffPIR ``main_ddpir_inpainting.py``): DiffPIR reads it from
  the physics' noise model, and 0 would make its data step weight infinite.
- ``DDRM``: ``deepinv.sampling.DDRM`` with ``eta=0.85``, ``etab=1`` (deepinv's defaults, the
  paper's values) and ``sigmas = linspace(1, 0, steps)`` (deepinv's default grid, image units). Only
  for operators with an SVD (``DecomposablePhysics``); elsewhere it is reported as not applicable.
- ``PiGDM``: ``deepinv.sampling.PosteriorDiffusion`` with ``PiGDMDataFidelity()`` (``weight=1``),
  ``VariancePreservingDiffusion()`` (betas 0.1..20) and ``DDIMSolver(eta=1.0)`` over
  ``linspace(1, 0, steps + 1)`` (the PiGDM paper's ``eta = 1`` for noisy problems; projdiff's PiGDM
  uses the same). Each call back-propagates through the denoiser.

Randomness: DPS and PiGDM draw from a ``torch.Generator`` seeded with ``seed`` and given at
construction (deepinv ignores ``seed=`` without one). DiffPIR and DDRM draw from torch's global
generator; they run inside ``torch.random.fork_rng()`` after ``torch.manual_seed(seed)``, so the
global state is untouched afterwards.
"""

from __future__ import annotations

import numpy as np
import torch
from deepinv.optim.data_fidelity import L2
from deepinv.sampling import (DDRM, DPS, DDIMSolver, DiffPIR, PiGDMDataFidelity, PosteriorDiffusion,
                              VariancePreservingDiffusion)
from deepinv_adapter import PriorDenoiser, physics, svd_modes

METHODS = ("DPS", "DiffPIR", "DDRM", "PiGDM")
DIFFPIR_NOISE_FLOOR = 1e-3


def not_applicable(method: str, operator) -> str | None:
    """Why ``method`` cannot run on ``operator``, or ``None`` when it can."""
    if method == "DDRM" and svd_modes(operator) is None:
        return "needs an SVD (DecomposablePhysics): the operator has no spectral() and is not an inpainting mask"
    return None


def sample(method: str, denoiser: PriorDenoiser, operator, y: torch.Tensor, sigma: float, steps: int,
           seed: int) -> torch.Tensor:
    """One posterior sample per item with deepinv's ``method``.

    Parameters
    ----------
    method : {"DPS", "DiffPIR", "DDRM", "PiGDM"}
    denoiser : PriorDenoiser
        The prior, in image units.
    operator : LinearOperator
        Forward model; wrapped by ``deepinv_adapter.physics``.
    y : tensor of shape (N, *operator.output_shape)
        Measurements in image units.
    sigma : float
        Measurement noise level in image units.
    steps : int
        Denoiser calls.
    seed : int

    Returns
    -------
    tensor of shape (N, *operator.input_shape), image units
    """
    reason = not_applicable(method, operator)
    if reason:
        raise ValueError(f"{method}: {reason}")
    shape = (y.shape[0], *operator.input_shape)
    if method in ("DPS", "PiGDM"):
        rng = torch.Generator(y.device).manual_seed(seed)
        if method == "DPS":
            solver = DPS(denoiser, num_steps=steps + 1, rng=rng, device=y.device)
        else:
            timesteps = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
            solver = PosteriorDiffusion(data_fidelity=PiGDMDataFidelity(), denoiser=denoiser,
                                        sde=VariancePreservingDiffusion(),
                                        solver=DDIMSolver(timesteps=timesteps, eta=1.0, rng=rng))
        out = solver(y, physics(operator, sigma, y.dtype), x_init=shape)
    else:
        with torch.random.fork_rng(devices=[y.device] if y.device.type == "cuda" else []):
            torch.manual_seed(seed)
            if method == "DiffPIR":
                level = max(sigma, DIFFPIR_NOISE_FLOOR)
                solver = DiffPIR(denoiser, L2(), sigma=level, max_iter=steps, zeta=0.3, lambda_=7.0, device=y.device)
                out = solver(y, physics(operator, level, y.dtype))
            else:
                solver = DDRM(denoiser, sigmas=np.linspace(1, 0, steps), eta=0.85, etab=1.0)
                out = solver(y, physics(operator, sigma, y.dtype))
    return out.to(y.dtype).reshape(shape)
