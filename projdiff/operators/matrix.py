"""A dense matrix acting on the flattened item, with its SVD."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from projdiff.operators._common import (as_float, as_real_tensor, as_shape, cast, check_trailing, flatten_item,
                                        frobenius_noise_gain)
from projdiff.operators.base import LinearOperator, Spectral
from projdiff.operators.dense import DenseSVD, truncate


class MatrixOperator(LinearOperator):
    """``y = M x_flat`` for a dense ``m x n`` matrix ``M``: ``(*input_shape) -> (m,)``.

    The SVD ``M = U diag(s) V^T`` is computed once in float64 (full ``V``, ``n x n``). Singular
    values below ``rcond * max(s)`` are treated as zero, and so are the ``n - min(m, n)`` null-space
    modes, so that ``spectral()`` has ``n`` modes. ``pinv`` is the matching truncated
    pseudo-inverse ``V diag(1/s on kept modes) U^T``. ``noise_gain`` is the exact
    ``sqrt(m / ||M||_F^2)``.

    Parameters
    ----------
    matrix : tensor or array of shape (m, n)
        Real, finite.
    input_shape : sequence of int, optional
        Shape of one item with ``prod(input_shape) = n``. Default ``(n,)``.
    rcond : float in [0, 1), default 1e-6
        Relative cut-off for small singular values.

    Examples
    --------
    >>> import torch
    >>> A = MatrixOperator(torch.tensor([[1.0, 1.0, 0.0]]), input_shape=(3,))
    >>> A.pinv(torch.tensor([[2.0]])).round(decimals=6)
    tensor([[1., 1., 0.]])
    """

    def __init__(self, matrix, input_shape: Sequence[int] | None = None, *, rcond: float = 1e-6):
        m_tensor = as_real_tensor(matrix, "matrix")
        if m_tensor.dim() != 2:
            raise ValueError(f"matrix: expected a 2D (m, n) matrix, got shape {tuple(m_tensor.shape)}")
        rows, cols = m_tensor.shape
        shape = (cols,) if input_shape is None else as_shape(input_shape, "input_shape")
        if math.prod(shape) != cols:
            raise ValueError(f"input_shape: expected a shape with prod = {cols} (the matrix's columns), got {shape}")
        rcond = as_float(rcond, "rcond")
        if not 0.0 <= rcond < 1.0:
            raise ValueError(f"rcond: expected a number in [0, 1), got {rcond}")
        super().__init__(input_shape=shape)
        stored = m_tensor.to(torch.get_default_dtype())
        u, s, vh = torch.linalg.svd(stored.double(), full_matrices=True)
        rank = min(rows, cols)
        values = torch.zeros(cols, dtype=torch.float64)
        values[:rank] = s
        values = truncate(values, rcond)
        self.register_buffer("matrix", stored)
        # float64 factors so that the spectral decomposition is exact in float64 checks.
        self.register_buffer("u", u[:, :rank].contiguous())
        self.register_buffer("vh", vh.contiguous())
        self.register_buffer("singular_values", values)
        self.rcond = rcond
        self._output_shape = (rows,)
        self._frobenius_sq = float((stored.double() ** 2).sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*batch, *input_shape) -> (*batch, m)``."""
        self.batch_shape(x)
        return flatten_item(x, len(self.input_shape)) @ cast(self.matrix, x).T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``M^T y``: ``(*batch, m) -> (*batch, *input_shape)``."""
        lead = check_trailing(y, self.output_shape, "y")
        return (y @ cast(self.matrix, y)).reshape(*lead, *self.input_shape)

    def _svd(self) -> DenseSVD:
        return DenseSVD(self.u, self.vh, self.singular_values, self.input_shape)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Truncated pseudo-inverse ``V diag(1/s) U^T y`` over the kept modes."""
        check_trailing(y, self.output_shape, "y")
        return self._svd().pinv(y)

    def spectral(self) -> Spectral:
        """``V^T`` on the flattened item (mode shape ``(n,)``) and the truncated singular values."""
        svd = self._svd()
        return Spectral(svd.to_modes, svd.from_modes, self.singular_values.clone())

    def noise_gain(self) -> float:
        """Exact ``sqrt(m / ||M||_F^2)``."""
        if self._noise_gain is None:
            self._noise_gain = frobenius_noise_gain(self.output_shape[0], self._frobenius_sq)
        return self._noise_gain

    def extra_repr(self) -> str:
        kept = int((self.singular_values > 0).sum())
        return f"input_shape={self.input_shape}, m={self.output_shape[0]}, rank={kept}, rcond={self.rcond:g}"
