"""Super-resolution: average over non-overlapping ``factor x factor`` blocks."""

from __future__ import annotations

from typing import Sequence

import torch

from projdiff.operators._common import as_int, as_shape, check_trailing
from projdiff.operators.base import LinearOperator


class SuperResolution(LinearOperator):
    """Block-average downsampling of the last two dimensions by an integer ``factor``.

    ``y[..., i, j] = mean(x[..., k i : k (i + 1), k j : k (j + 1)])`` with ``k = factor``. The rows
    of ``A`` are disjoint with ``k^2`` entries ``1/k^2``, so ``A A^T = I / k^2``: a tight frame with
    ``frame_constant = 1/k^2`` and ``noise_gain = k``. The adjoint is nearest-neighbour replication
    divided by ``k^2``; the pseudo-inverse is plain replication.

    Parameters
    ----------
    input_shape : sequence of int
        ``(*lead, H, W)``, e.g. ``(C, H, W)``; ``H`` and ``W`` must be divisible by ``factor``.
    factor : int >= 1
        Downsampling factor ``k``. Output shape ``(*lead, H / k, W / k)``.

    Examples
    --------
    >>> import torch
    >>> A = SuperResolution((1, 4, 4), 2)
    >>> A(torch.arange(16.0).reshape(1, 1, 4, 4))
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """

    def __init__(self, input_shape: Sequence[int], factor: int):
        shape = as_shape(input_shape, "input_shape", min_dims=2)
        height, width = shape[-2:]
        k = as_int(factor, "factor", minimum=1)
        if height % k or width % k:
            raise ValueError(f"factor: expected an int >= 1 dividing height {height} and width {width}, got {k}")
        super().__init__(input_shape=shape, frame_constant=1.0 / k**2)
        self.factor = k
        self._output_shape = (*shape[:-2], height // k, width // k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Block means: ``(*batch, *lead, H, W) -> (*batch, *lead, H/k, W/k)``."""
        self.batch_shape(x)
        k = self.factor
        h, w = x.shape[-2] // k, x.shape[-1] // k
        return x.reshape(*x.shape[:-2], h, k, w, k).mean(dim=(-3, -1))

    def _replicate(self, y: torch.Tensor) -> torch.Tensor:
        check_trailing(y, self.output_shape, "y")
        k = self.factor
        h, w = y.shape[-2:]
        expanded = y[..., :, None, :, None].expand(*y.shape[:-2], h, k, w, k)
        return expanded.reshape(*y.shape[:-2], h * k, w * k)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Nearest-neighbour replication divided by ``k^2``."""
        return self._replicate(y) / self.factor**2

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Nearest-neighbour replication (the minimum-norm preimage of the block means)."""
        return self._replicate(y)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, factor={self.factor}"
