"""Denoising: the identity operator (the measurement is the noisy signal itself)."""

from __future__ import annotations

from typing import Sequence

import torch

from projdiff.operators._common import as_shape, check_trailing
from projdiff.operators.base import LinearOperator


class Denoising(LinearOperator):
    """``y = x``; ``frame_constant = 1`` and ``noise_gain = 1``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one item; the output has the same shape.

    Examples
    --------
    >>> import torch
    >>> Denoising((2,)).project(torch.zeros(1, 2), torch.ones(1, 2))
    tensor([[1., 1.]])
    """

    def __init__(self, input_shape: Sequence[int]):
        shape = as_shape(input_shape, "input_shape")
        super().__init__(input_shape=shape, frame_constant=1.0)
        self._output_shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (a copy, so callers may modify the result)."""
        self.batch_shape(x)
        return x.clone()

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (a copy)."""
        check_trailing(y, self.input_shape, "y")
        return y.clone()

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (a copy)."""
        return self.adjoint(y)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``y`` broadcast to ``x``'s batch shape: the only point with ``A x = y``."""
        self.batch_shape(x)
        check_trailing(y, self.input_shape, "y")
        return y + torch.zeros_like(x)
