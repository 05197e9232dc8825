"""A nonlinear operator from any differentiable function."""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from projdiff.operators._common import as_float, as_int, as_shape, flat_apply
from projdiff.operators.base import Operator


class NonlinearOperator(Operator):
    """Wrap a differentiable ``forward_fn: (N, *input_shape) -> (N, *output_shape)``.

    Leading batch dimensions of ``x`` are flattened into ``N`` before the call and restored
    afterwards, so ``forward_fn`` sees exactly one batch dimension. ``project`` is the base class's
    trust-region Gauss-Newton projection with a convergence check (Jacobian
    products through ``torch.func``; see ``operators/projection.py``), so ``forward_fn`` must be
    compatible with ``torch.func.vjp``/``jvp`` (pure torch operations, no in-place updates of its
    input, no ``.item()``). A projection that cannot meet ``A(x) = y`` (for example a noisy
    ``y`` outside the range of a bounded function) raises ``ProjectionError``.

    Parameters
    ----------
    forward_fn : callable
        Differentiable map; items must be independent.
    input_shape : sequence of int
        Shape of one item.
    noise_gain : float > 0, optional
        Factor ``k`` with equivalent noise ``k * sigma_y`` on ``x``. Default 1.
    project_tol : float > 0, default 1e-4
        ``project`` stops once ``||y - A(x)|| <= project_tol * (1 + ||y||)`` for every item.
    project_max_iter : int >= 1, default 100
        Damped Gauss-Newton steps before ``project`` gives up with ``ProjectionError``.

    Examples
    --------
    >>> import torch
    >>> A = NonlinearOperator(lambda x: torch.tanh(x).sum(-1, keepdim=True), (4,))
    >>> A(torch.zeros(2, 3, 4)).shape
    torch.Size([2, 3, 1])
    """

    def __init__(self, forward_fn: Callable[[torch.Tensor], torch.Tensor], input_shape: Sequence[int], *,
                 noise_gain: float | None = None, project_tol: float = 1e-4, project_max_iter: int = 100):
        if not callable(forward_fn):
            raise TypeError(f"forward_fn: expected a callable (N, *input_shape) -> (N, *output_shape), "
                            f"got {type(forward_fn).__name__}")
        if noise_gain is not None:
            noise_gain = as_float(noise_gain, "noise_gain", positive=True)
        super().__init__(as_shape(input_shape, "input_shape"), noise_gain=noise_gain)
        self.forward_fn = forward_fn
        self.project_tol = as_float(project_tol, "project_tol", positive=True)
        self.project_max_iter = as_int(project_max_iter, "project_max_iter", minimum=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``forward_fn`` applied with the leading batch dimensions flattened to one."""
        self.batch_shape(x)
        return flat_apply(self.forward_fn, x, self.input_shape)
