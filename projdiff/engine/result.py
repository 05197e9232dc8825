"""What ``solve`` returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SolveResult:
    """Output of :func:`projdiff.solve`.

    Attributes
    ----------
    x : tensor of shape (B, *input_shape)
        The estimate: the mean over samples when ``num_samples > 1``.
    samples : tensor of shape (num_samples, B, *input_shape)
    std : tensor of shape (B, *input_shape) or None
        Per-entry standard deviation over samples (``None`` for a single sample).
    nfe : int
        Denoiser evaluations per sample (network function evaluations).
    seconds : float
        Wall time of the solve.
    seeds : list of int
        The seed of every input item; ``solve(..., seed=seeds)`` reproduces the result.
    """

    x: torch.Tensor
    samples: torch.Tensor
    std: torch.Tensor | None
    nfe: int
    seconds: float
    seeds: list[int]
