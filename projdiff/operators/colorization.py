"""Colorization: observe the channel mean (a gray image) of an RGB image."""

from __future__ import annotations

from typing import Sequence

import torch

from projdiff.operators._common import as_shape, check_trailing
from projdiff.operators.base import LinearOperator


class Colorization(LinearOperator):
    """``y = mean over channels``: ``(3, H, W) -> (1, H, W)``.

    Each row of ``A`` has three entries ``1/3``, so ``A A^T = I / 3``: ``frame_constant = 1/3`` and
    ``noise_gain = sqrt(3)``. The adjoint copies ``y / 3`` to the three channels; the
    pseudo-inverse copies ``y`` (the gray image ``y`` in every channel).

    Parameters
    ----------
    input_shape : sequence of int
        ``(3, H, W)``.

    Examples
    --------
    >>> import torch
    >>> A = Colorization((3, 2, 2))
    >>> A(torch.ones(1, 3, 2, 2)).shape
    torch.Size([1, 1, 2, 2])
    """

    def __init__(self, input_shape: Sequence[int]):
        shape = as_shape(input_shape, "input_shape")
        if len(shape) != 3 or shape[0] != 3:
            raise ValueError(f"input_shape: expected (3, H, W), got {shape}")
        super().__init__(input_shape=shape, frame_constant=1.0 / 3.0)
        self._output_shape = (1, *shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel mean: ``(*batch, 3, H, W) -> (*batch, 1, H, W)``."""
        self.batch_shape(x)
        return x.mean(dim=-3, keepdim=True)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``y / 3`` in each of the three channels."""
        return self.pinv(y) / 3.0

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` in each of the three channels."""
        check_trailing(y, self.output_shape, "y")
        return y.expand(*y.shape[:-3], 3, *y.shape[-2:]).clone()
