"""Dense singular value decompositions of linear operators on flattened items.

``MatrixOperator`` factors its own matrix; any other ``LinearOperator`` that is not a tight frame
gets its ``spectral()`` and ``pinv`` from here (unless it defines its own), from its matrix
materialised by forward passes over the identity (``dense_svd``), as long as an item has at most
``DENSE_SPECTRAL_LIMIT`` entries.
"""

from __future__ import annotations

import copy
import math

import torch

from projdiff.operators._common import Shape, cast, flatten_item

DENSE_SPECTRAL_LIMIT = 4096
"""Largest ``prod(input_shape)`` for which a dense SVD is computed automatically (float64 V: 128
MiB and about two minutes on one CPU core at the limit, a few seconds at 1024)."""

RCOND = 1e-6
"""Singular values below ``RCOND * max(s)`` count as zero (as in ``MatrixOperator``)."""


def truncate(values: torch.Tensor, rcond: float) -> torch.Tensor:
    """``values`` with those below ``rcond * max(values)`` (and non-positive ones) set to 0."""
    top = float(values.max()) if values.numel() else 0.0
    kept = (values > 0) & (values >= rcond * top)
    return torch.where(kept, values, torch.zeros_like(values))


class DenseSVD:
    """A truncated SVD ``M = U diag(s) V^T`` acting on flattened items.

    Parameters
    ----------
    u : tensor of shape (m, r)
        Left singular vectors of the first ``r`` modes (``r >= `` the number of nonzero ``s``).
    vh : tensor of shape (n, n), orthogonal
        Rows are the right singular vectors, all ``n`` of them (null space included).
    values : tensor of shape (n,)
        Singular values in descending order, zero on truncated and null-space modes.
    input_shape : shape with ``prod(input_shape) = n``
    """

    def __init__(self, u: torch.Tensor, vh: torch.Tensor, values: torch.Tensor, input_shape: Shape):
        self.u, self.vh, self.values = u, vh, values
        self.input_shape = tuple(input_shape)

    def to_modes(self, x: torch.Tensor) -> torch.Tensor:
        """``V^T x``: ``(*batch, *input_shape) -> (*batch, n)``."""
        return flatten_item(x, len(self.input_shape)) @ cast(self.vh, x).T

    def from_modes(self, z: torch.Tensor) -> torch.Tensor:
        """``V z``: ``(*batch, n) -> (*batch, *input_shape)``."""
        return (z @ cast(self.vh, z)).reshape(*z.shape[:-1], *self.input_shape)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Truncated pseudo-inverse ``V diag(1/s) U^T y`` over the modes with ``s > 0``; y of shape (*batch, m)."""
        values = cast(self.values, y)
        rank = self.u.shape[1]
        head = values[:rank]
        inverse = torch.where(head > 0, 1 / torch.where(head > 0, head, torch.ones_like(head)), torch.zeros_like(head))
        coefficients = (y @ cast(self.u, y)) * inverse
        return self.from_modes(torch.cat([coefficients, y.new_zeros((*y.shape[:-1], values.shape[0] - rank))], -1))


def dense_matrix(operator, chunk: int = 256) -> torch.Tensor:
    """The matrix ``M`` with ``A(x) = M x_flat``, shape (m, n), float64 when the operator allows it.

    Computed from forward passes over the columns of the identity, ``chunk`` at a time, in float64
    on a float64 copy of the operator when it accepts one, else in float32.
    """
    n = math.prod(operator.input_shape)
    device = operator._device()
    try:
        work, dtype = copy.deepcopy(operator).double(), torch.float64
        work(torch.zeros((1, *operator.input_shape), dtype=dtype, device=device))
    except (RuntimeError, TypeError):
        work, dtype = operator, torch.float32
    columns = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            eye = torch.zeros((stop - start, n), dtype=dtype, device=device)
            eye[torch.arange(stop - start), torch.arange(start, stop)] = 1
            columns.append(work(eye.reshape(-1, *operator.input_shape)).reshape(stop - start, -1).double())
    return torch.cat(columns).T.contiguous()


def dense_svd(operator, rcond: float = RCOND) -> DenseSVD:
    """The truncated SVD of a linear operator's matrix (``dense_matrix``), float64.

    From the eigen-decomposition of ``M^T M`` (cheaper than an SVD for a full ``V``): singular
    values below ``rcond * max`` count as zero, ``U = M V / s`` on the other modes.
    """
    matrix = dense_matrix(operator)
    eigenvalues, vectors = torch.linalg.eigh(matrix.T @ matrix)
    order = torch.argsort(eigenvalues, descending=True)
    values = truncate(eigenvalues[order].clamp_min(0).sqrt(), rcond)
    vh = vectors[:, order].T.contiguous()
    rank = int((values > 0).sum())
    u = (matrix @ vh[:rank].T) / values[:rank]
    return DenseSVD(u.contiguous(), vh, values, operator.input_shape)
