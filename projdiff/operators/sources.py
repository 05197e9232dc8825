"""Source separation operators on stacked stems ``(K, *rest)``: the mixture, and a subset of stems."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from projdiff.operators._common import as_int, as_shape, check_trailing
from projdiff.operators.base import LinearOperator


def _stem_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = as_shape(input_shape, "input_shape")
    if len(shape) < 2:
        raise ValueError(f"input_shape: expected (K, *rest) with K stems and at least one more dim, got {shape}")
    return shape


def _stem_indices(given, stems: int) -> list[int]:
    """Validated stem indices from a sequence of ints or a sequence of ``stems`` bools."""
    try:
        values = np.asarray(given.cpu() if isinstance(given, torch.Tensor) else given)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or (values.size and values.dtype.kind not in "biu"):
        raise TypeError(f"given: expected a sequence of stem indices (ints) or one bool per stem, got {given!r}")
    if values.dtype.kind == "b":
        if values.size != stems:
            raise ValueError(f"given: expected {stems} bools (one per stem), got {values.size}")
        indices = np.flatnonzero(values).tolist()
    else:
        indices = [as_int(int(v), "given", minimum=0, maximum=stems - 1) for v in values]
    if not indices or len(set(indices)) != len(indices):
        raise ValueError(f"given: expected at least one distinct stem index in [0, {stems - 1}], got {given!r}")
    return indices


class SumOfSources(LinearOperator):
    """The mixture ``y = sum_k x[k]``: ``(K, *rest) -> (*rest)``, e.g. 4 stems ``(4, L) -> (L,)``.

    ``A A^T = K I``: ``frame_constant = K`` and ``noise_gain = 1 / sqrt(K)``. The adjoint copies
    ``y`` to every stem; ``pinv(y) = y / K`` in every stem, and the projection
    ``x + (y - sum_k x[k]) / K`` spreads the mixture residual evenly over the stems.

    Parameters
    ----------
    input_shape : sequence of int
        ``(K, *rest)`` with at least one dimension in ``rest``.

    Examples
    --------
    >>> import torch
    >>> A = SumOfSources((2, 3))
    >>> A.project(torch.zeros(1, 2, 3), torch.ones(1, 3))
    tensor([[[0.5000, 0.5000, 0.5000],
             [0.5000, 0.5000, 0.5000]]])
    """

    def __init__(self, input_shape: Sequence[int]):
        shape = _stem_shape(input_shape)
        super().__init__(input_shape=shape, frame_constant=float(shape[0]))
        self._output_shape = shape[1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*batch, K, *rest) -> (*batch, *rest)``."""
        self.batch_shape(x)
        return x.sum(dim=-len(self.input_shape))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` copied to each of the ``K`` stems."""
        lead = check_trailing(y, self.output_shape, "y")
        stem = len(lead)
        return y.unsqueeze(stem).expand(*lead, *self.input_shape).clone()


class SourceMask(LinearOperator):
    """Observe some stems: ``y = x[given]``, ``(K, *rest) -> (len(given), *rest)``.

    The rows are distinct unit vectors, so ``frame_constant = 1`` and ``noise_gain = 1``; the
    adjoint (= pinv) puts ``y`` into the given stems and zeros elsewhere, and the projection
    replaces the given stems of ``x`` by ``y``.

    Parameters
    ----------
    given : sequence of int, or sequence of bool of length K
        Indices of the observed stems (distinct, in ``[0, K)``, kept in the given order), or a
        boolean flag per stem.
    input_shape : sequence of int
        ``(K, *rest)`` with at least one dimension in ``rest``.

    Examples
    --------
    >>> import torch
    >>> A = SourceMask([2, 0], (3, 2))
    >>> A(torch.arange(6.0).reshape(1, 3, 2))
    tensor([[[4., 5.],
             [0., 1.]]])
    """

    def __init__(self, given: Sequence[int] | Sequence[bool], input_shape: Sequence[int]):
        shape = _stem_shape(input_shape)
        indices = _stem_indices(given, shape[0])
        super().__init__(input_shape=shape, frame_constant=1.0)
        self.register_buffer("indices", torch.tensor(indices, dtype=torch.long))
        self._output_shape = (len(indices), *shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*batch, K, *rest) -> (*batch, len(given), *rest)``."""
        stem = len(self.batch_shape(x))
        return x.index_select(stem, self.indices.to(x.device))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` placed into the given stems, zeros in the others."""
        lead = check_trailing(y, self.output_shape, "y")
        out = y.new_zeros((*lead, *self.input_shape))
        return out.index_copy(len(lead), self.indices.to(y.device), y)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, given={self.indices.tolist()}"
