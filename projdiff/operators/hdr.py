"""High dynamic range: amplify around a pivot and clip to the sensor range (nonlinear)."""

from __future__ import annotations

from typing import Sequence

import torch

from projdiff.operators._common import as_float, as_shape, check_trailing
from projdiff.operators.base import Operator


class HDR(Operator):
    """``y = clamp(pivot + gain * (x - pivot), low, high)`` entry-wise.

    The feasible set ``{x : A(x) = y}`` is a box, so the Euclidean projection is exact and
    entry-wise, with thresholds ``t_high = pivot + (high - pivot) / gain`` and
    ``t_low = pivot + (low - pivot) / gain``:

    - ``low < y < high``: ``x = pivot + (y - pivot) / gain`` (the unique preimage);
    - ``y >= high`` (saturated): ``x = max(x, t_high)``;
    - ``y <= low`` (saturated): ``x = min(x, t_low)``.

    Unlike a plain rescaling of ``x``, this never leaves a saturated pixel on the wrong side of its
    threshold, and it is idempotent. ``noise_gain = 1 / gain`` (unsaturated entries are
    ``(y - pivot) / gain``).

    Parameters
    ----------
    input_shape : sequence of int
    gain : float > 0, default 2.0
        Exposure multiplier.
    pivot : float, default 0.0
        Value left unchanged by the gain (use 0.5 for images in ``[0, 1]``).
    low, high : float, default -1.0, 1.0
        Sensor range, ``low < high`` (use 0 and 1 for images in ``[0, 1]``).

    Examples
    --------
    >>> import torch
    >>> A = HDR((3,), gain=2.0)
    >>> A(torch.tensor([[-0.8, 0.2, 0.9]]))
    tensor([[-1.0000,  0.4000,  1.0000]])
    """

    def __init__(self, input_shape: Sequence[int], gain: float = 2.0, pivot: float = 0.0, low: float = -1.0,
                 high: float = 1.0):
        shape = as_shape(input_shape, "input_shape")
        gain = as_float(gain, "gain", positive=True)
        pivot, low, high = as_float(pivot, "pivot"), as_float(low, "low"), as_float(high, "high")
        if not low < high:
            raise ValueError(f"high: expected a number greater than low = {low}, got {high}")
        super().__init__(shape, noise_gain=1.0 / gain)
        self.gain, self.pivot, self.low, self.high = gain, pivot, low, high
        self._output_shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Amplified and clipped values, same shape as ``x``, in ``[low, high]``."""
        self.batch_shape(x)
        return torch.clamp(self.pivot + self.gain * (x - self.pivot), self.low, self.high)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact Euclidean projection of ``x`` onto ``{x : A(x) = y}`` (see the class docstring)."""
        self.batch_shape(x)
        check_trailing(y, self.input_shape, "y")
        t_high = self.pivot + (self.high - self.pivot) / self.gain
        t_low = self.pivot + (self.low - self.pivot) / self.gain
        inside = self.pivot + (y - self.pivot) / self.gain
        return torch.where(y >= self.high, torch.clamp(x, min=t_high),
                           torch.where(y <= self.low, torch.clamp(x, max=t_low), inside))

    def extra_repr(self) -> str:
        return (f"input_shape={self.input_shape}, gain={self.gain:g}, pivot={self.pivot:g}, "
                f"low={self.low:g}, high={self.high:g}")
