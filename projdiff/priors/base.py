"""Prior contract: a denoiser ``D(x, sigma) ~ E[x0 | x0 + sigma * eps = x]`` in sigma-space."""

from __future__ import annotations

from typing import Sequence

import torch


class Prior(torch.nn.Module):
    """Base class of diffusion priors.

    Subclasses implement ``denoise`` and set ``sigma_min`` and ``sigma_max``; priors trained on a
    discrete noise grid also set ``sigmas`` (ascending).

    Attributes
    ----------
    shape : tuple of int or None
        Shape of one data item. ``None`` entries are free (fully convolutional models).
    sigma_min, sigma_max : float
        Range of noise levels the denoiser is meant for.
    sigmas : tensor of shape (T,) or None
        Discrete training noise levels, ascending.
    sigma_data : float or None
        Typical standard deviation of one data entry (None: unknown). Solvers use it to place
        their noise levels (``projdiff.engine.schedules.projdiff_sigmas``).
    data_center : float or tensor of the item shape
        Centre (mean) of the data, default 0. A sample at a noise level ``sigma`` well below
        ``sigma_max`` is centred there, not at 0: ProjDiff starts at ``data_center + sigma z``.
    exact : bool
        Whether ``denoise`` is the exact posterior mean of the prior's own distribution (closed-form
        priors; default False, as for every learned network). Solvers may then use updates that are
        right only for an exact denoiser (ProjDiff's over-relaxed noise, ``overrelaxation="auto"``).
    """

    shape: tuple | None = None
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    sigmas: torch.Tensor | None = None
    sigma_data: float | None = None
    data_center: float | torch.Tensor = 0.0
    exact: bool = False

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Estimate ``x0`` from ``x = x0 + sigma * eps``.

        Parameters
        ----------
        x : tensor of shape (N, *shape)
        sigma : tensor of shape (N,)
            Noise level of each item, in data units.

        Returns
        -------
        tensor of shape (N, *shape)
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.denoise(x, sigma)

    def check_shape(self, shape: Sequence[int]) -> None:
        """Raise ``ValueError`` when data of this item shape cannot be handled."""
        if self.shape is None:
            return
        shape = tuple(shape)
        ok = len(shape) == len(self.shape) and all(a is None or a == b for a, b in zip(self.shape, shape))
        if not ok:
            expected = ", ".join("any" if a is None else str(a) for a in self.shape)
            raise ValueError(f"operator.input_shape: expected ({expected}) for {type(self).__name__}, got {shape}")


def sigma_column(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-item noise level (N,) or a float to shape (N, 1, ..., 1) like ``x``."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.dim() == 0:
        sigma = sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma: expected a float or shape ({x.shape[0]},), got {tuple(sigma.shape)}")
    return sigma.reshape(-1, *([1] * (x.dim() - 1)))
