"""Compressed sensing with orthonormal measurement rows (subsampled Hadamard or random Gaussian)."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from projdiff.operators._common import as_int, as_shape, cast, check_generator, check_trailing, flatten_item
from projdiff.operators.base import LinearOperator

BASES = ("hadamard", "random")


def walsh_hadamard(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised fast Walsh-Hadamard transform over the last dimension (Sylvester order).

    ``O(n log n)`` butterflies; the last dimension ``n`` must be a power of two. The transform is
    symmetric and ``walsh_hadamard(walsh_hadamard(x)) = n * x``.
    """
    n = x.shape[-1]
    lead = x.shape[:-1]
    half = 1
    while half < n:
        pairs = x.reshape(*lead, n // (2 * half), 2, half)
        first, second = pairs[..., 0, :], pairs[..., 1, :]
        x = torch.stack((first + second, first - second), dim=-2)
        half *= 2
    return x.reshape(*lead, n)


class CompressedSensing(LinearOperator):
    """``y = A x_flat`` with ``m`` orthonormal rows (``A A^T = I``): ``(*input_shape) -> (m,)``.

    ``basis="hadamard"``: ``A x = S H D P x / sqrt(n)``, with ``P`` a random permutation of the
    ``n = prod(input_shape)`` entries, ``D`` random signs, ``H`` the fast Walsh-Hadamard transform
    and ``S`` a random subset of ``m`` of its rows (kept in increasing order); ``n`` must be a
    power of two. Memory ``O(n)``, time ``O(n log n)``.

    ``basis="random"``: ``A = Q^T`` with ``Q`` (``n x m``) from the QR decomposition of a standard
    Gaussian matrix. Dense (``m n`` floats), so only for small ``n``.

    Being a tight frame with ``frame_constant = 1``, ``pinv = adjoint`` and ``noise_gain = 1``.

    Parameters
    ----------
    input_shape : sequence of int
    m : int in [1, n]
        Number of measurements.
    basis : {"hadamard", "random"}, default "hadamard"
    generator : torch.Generator, optional
        Source of the random permutation, signs and rows (or of the Gaussian matrix).

    Examples
    --------
    >>> import torch
    >>> A = CompressedSensing((1, 8, 8), 16, generator=torch.Generator().manual_seed(0))
    >>> A(torch.randn(5, 1, 8, 8)).shape
    torch.Size([5, 16])
    """

    def __init__(self, input_shape: Sequence[int], m: int, *, basis: str = "hadamard",
                 generator: torch.Generator | None = None):
        shape = as_shape(input_shape, "input_shape")
        n = math.prod(shape)
        m = as_int(m, "m", minimum=1, maximum=n)
        if basis not in BASES:
            raise ValueError(f"basis: expected one of {BASES}, got {basis!r}")
        check_generator(generator)
        if basis == "hadamard" and n & (n - 1):
            raise ValueError(f"input_shape: basis='hadamard' needs prod(input_shape) to be a power of two, "
                             f"got {n} for {shape}; use basis='random'")
        super().__init__(input_shape=shape, frame_constant=1.0)
        self.basis = basis
        self._output_shape = (m,)
        if basis == "hadamard":
            perm = torch.randperm(n, generator=generator)
            signs = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
            rows = torch.randperm(n, generator=generator)[:m].sort().values
            self.register_buffer("perm", perm)
            self.register_buffer("inverse_perm", torch.argsort(perm))
            self.register_buffer("signs", signs.to(torch.get_default_dtype()))
            self.register_buffer("rows", rows)
        else:
            gaussian = torch.randn(n, m, generator=generator, dtype=torch.float64)
            q, _ = torch.linalg.qr(gaussian)
            self.register_buffer("matrix", q.T.contiguous().to(torch.get_default_dtype()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*batch, *input_shape) -> (*batch, m)``."""
        self.batch_shape(x)
        flat = flatten_item(x, len(self.input_shape))
        if self.basis == "random":
            return flat @ cast(self.matrix, x).T
        mixed = flat[..., self.perm] * cast(self.signs, x)
        return walsh_hadamard(mixed)[..., self.rows] / math.sqrt(flat.shape[-1])

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y``: ``(*batch, m) -> (*batch, *input_shape)``; equal to ``pinv``."""
        lead = check_trailing(y, self.output_shape, "y")
        if self.basis == "random":
            flat = y @ cast(self.matrix, y)
        else:
            n = math.prod(self.input_shape)
            full = y.new_zeros((*lead, n))
            full[..., self.rows] = y
            flat = (walsh_hadamard(full) * cast(self.signs, y) / math.sqrt(n))[..., self.inverse_perm]
        return flat.reshape(*lead, *self.input_shape)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, m={self.output_shape[0]}, basis={self.basis!r}"
