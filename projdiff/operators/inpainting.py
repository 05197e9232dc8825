"""Inpainting: observe a subset of the entries of ``x`` (a 0/1 mask, 1 = observed)."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from projdiff.operators._common import as_float, as_int, as_real_tensor, as_shape, cast, check_generator, check_trailing
from projdiff.operators.base import LinearOperator


class Inpainting(LinearOperator):
    """``y = mask * x``: observed entries are kept, missing ones are set to zero.

    The measurement has the input's shape; its missing entries are structural zeros. The operator
    is an orthogonal projector, so ``adjoint = pinv = forward`` and the projection onto
    ``{A x = y}`` replaces the observed entries of ``x`` by those of ``y``.

    Parameters
    ----------
    mask : tensor or array of 0/1 (or bool) values
        1 = observed, 0 = missing. Shape ``input_shape`` (one mask for all items; any shape that
        broadcasts to ``input_shape``, e.g. ``(1, H, W)`` for ``(C, H, W)``, is expanded), or
        ``(B, *input_shape)`` for one mask per item: the mask's leading dimension then broadcasts
        against the *last* batch dimension of ``x`` (``x`` of shape ``(K, B, *input_shape)``).
    input_shape : sequence of int, optional
        Shape of one item. Default ``mask.shape`` (a mask without a batch dimension).

    Examples
    --------
    >>> import torch
    >>> A = Inpainting(torch.tensor([1.0, 0.0, 1.0]))
    >>> A(torch.tensor([[4.0, 5.0, 6.0]]))
    tensor([[4., 0., 6.]])
    """

    tight = True  # singular values 1 (observed entries) and 0: one equivalent noise level is exact

    def __init__(self, mask, input_shape: Sequence[int] | None = None):
        mask = as_real_tensor(mask, "mask")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"mask: expected only 0 (missing) and 1 (observed) values, "
                             f"got values in [{float(mask.min()):g}, {float(mask.max()):g}]")
        if input_shape is None:
            input_shape = tuple(mask.shape)
        shape = as_shape(input_shape, "input_shape")
        given = tuple(mask.shape)
        per_item = mask.dim() == len(shape) + 1
        target = (given[0], *shape) if per_item else shape
        try:
            fits = mask.dim() == len(target) and tuple(torch.broadcast_shapes(given, target)) == target
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"mask: expected a shape that broadcasts to {shape} or (B, *{shape}) with the same "
                             f"number of dims, got {given}")
        mask = mask.expand(target)
        super().__init__(input_shape=shape)
        self.register_buffer("mask", mask.to(torch.get_default_dtype()).contiguous().clone())
        self.per_item = per_item
        self._output_shape = shape

    # -- masks --------------------------------------------------------------------------------------
    def _mask_for(self, t: torch.Tensor, name: str) -> torch.Tensor:
        batch = check_trailing(t, self.input_shape, name)
        if self.per_item and (len(batch) == 0 or batch[-1] not in (1, self.mask.shape[0])):
            raise ValueError(f"{name}: expected the last batch dimension to be {self.mask.shape[0]} "
                             f"(one per mask) or 1, got shape {tuple(t.shape)}")
        return cast(self.mask, t)

    # -- operator -----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``mask * x``: shape ``(*batch, *input_shape)`` to the same shape."""
        return x * self._mask_for(x, "x")

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``mask * y`` (the operator is symmetric)."""
        return y * self._mask_for(y, "y")

    def gram_solve(self, v: torch.Tensor, shift: float) -> torch.Tensor:
        """``(A A^T + shift I)^-1 v`` restricted to the observed entries (the others are zero)."""
        return v * self._mask_for(v, "v") / (1.0 + shift)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``mask * y``: the observed entries, zeros elsewhere."""
        return y * self._mask_for(y, "y")

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x * (1 - mask) + y * mask``: observed entries from ``y``, missing ones from ``x``."""
        self._mask_for(x, "x")
        mask = self._mask_for(y, "y")
        return x * (1 - mask) + y * mask

    def noise_gain(self) -> float:
        """1.0: each observed entry carries its own noise; missing entries are exact zeros, not data."""
        return 1.0

    def extra_repr(self) -> str:
        observed = float(self.mask.mean())
        return f"input_shape={self.input_shape}, per_item={self.per_item}, observed={observed:.3f}"

    # -- constructors -------------------------------------------------------------------------------
    @classmethod
    def random(cls, input_shape: Sequence[int], fraction_observed: float, *,
               generator: torch.Generator | None = None, shared_channels: bool = True) -> "Inpainting":
        """A mask with ``round(fraction_observed * n)`` observed positions drawn uniformly without replacement.

        Parameters
        ----------
        input_shape : sequence of int
            Shape of one item, e.g. ``(C, H, W)``.
        fraction_observed : float in [0, 1]
            Fraction of positions observed.
        generator : torch.Generator, optional
            Source of randomness (default: a fresh unseeded draw from torch's default generator).
        shared_channels : bool, default True
            Draw the positions over the last two dimensions ``(H, W)`` and observe all channels
            there; with ``False`` every entry of ``input_shape`` is drawn independently.
        """
        shape = as_shape(input_shape, "input_shape")
        fraction = as_float(fraction_observed, "fraction_observed")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction_observed: expected a number in [0, 1], got {fraction}")
        draw_shape = shape[-2:] if shared_channels else shape
        n = math.prod(draw_shape)
        order = torch.randperm(n, generator=check_generator(generator))
        flat = torch.zeros(n)
        flat[order[: round(fraction * n)]] = 1.0
        return cls(flat.reshape(draw_shape).expand(shape), shape)

    @classmethod
    def box(cls, input_shape: Sequence[int], top: int, left: int, height: int, width: int) -> "Inpainting":
        """A mask whose box ``[top, top + height) x [left, left + width)`` of the last two dims is missing.

        All channels (leading dimensions) are missing inside the box; everything else is observed.
        """
        shape = as_shape(input_shape, "input_shape", min_dims=2)
        rows, cols = shape[-2:]
        top = as_int(top, "top", minimum=0, maximum=rows - 1)
        left = as_int(left, "left", minimum=0, maximum=cols - 1)
        height = as_int(height, "height", minimum=1, maximum=rows - top)
        width = as_int(width, "width", minimum=1, maximum=cols - left)
        mask = torch.ones(shape)
        mask[..., top: top + height, left: left + width] = 0.0
        return cls(mask, shape)
