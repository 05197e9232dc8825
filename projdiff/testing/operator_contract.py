"""The operator contract as a public function: run it on your own operators.

``check_operator(op)`` raises :class:`OperatorContractError` (a subclass of ``AssertionError``,
raised explicitly, so the checks also run under ``python -O``) naming the first property that fails:

- shapes: ``forward`` maps ``(B, *input_shape)`` to ``(B, *output_shape)``; items are independent
  (a batch equals the stacked single calls);
- linear operators: adjointness ``<A x, y> = <x, A^T y>`` to 1e-5 relative; projection
  feasibility ``||A P(x) - y|| <= 1e-4 ||y||`` and idempotence ``P(P(x)) = P(x)``;
  ``pinv(A x) = x`` for ``x`` in the row space (feasibility and the row space are restricted to
  the modes with ``s > 0`` when a spectral decomposition is exposed: ``pinv`` may truncate);
- a spectral decomposition, when exposed: ``to_modes``/``from_modes`` are inverse isometries,
  ``||A x|| = ||s * V^T x||`` and ``pinv(A x)`` is the projection onto the modes with ``s > 0``.

Linear checks run in float64 when the operator accepts it (``op.double()``), else in float32 with
tolerances scaled accordingly.
"""

from __future__ import annotations

import copy

import torch

from projdiff.operators.base import Operator
from projdiff.operators.linalg import batch_dot


class OperatorContractError(AssertionError):
    """An operator does not honour the operator contract; the message names the property."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise OperatorContractError(message)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _norm(v: torch.Tensor, event: int) -> torch.Tensor:
    return batch_dot(v, v, event).sqrt()


def check_operator(op: Operator, *, batch: int = 2, seed: int = 0, input_sampler=None) -> None:
    """Check that ``op`` honours the operator contract (see the module docstring).

    Parameters
    ----------
    op : Operator
    batch : int, default 2
        Number of random inputs per check.
    seed : int, default 0
    input_sampler : callable, optional
        ``(generator, shape) -> x``; default standard normal. Use it for operators whose domain
        is restricted (e.g. positive images).
    """
    g = torch.Generator().manual_seed(seed)
    sample = input_sampler or (lambda gen, shape: torch.randn(shape, generator=gen))
    x = sample(g, (batch, *op.input_shape)).to(op._device())
    y = op(x)
    _require(tuple(y.shape) == (batch, *op.output_shape),
             f"{type(op).__name__}: forward gave shape {tuple(y.shape)}, expected {(batch, *op.output_shape)}")
    singles = torch.cat([op(x[i : i + 1]) for i in range(batch)])
    _require(_rel(singles, y) < 1e-5,
             f"{type(op).__name__}: batched forward differs from single-item calls")
    if not op.linear:
        return

    work = copy.deepcopy(op)
    try:
        work = work.double()
        dtype, tol = torch.float64, 1.0
    except Exception:  # an operator built from float32-only functions
        dtype, tol = torch.float32, 30.0
    name = type(op).__name__
    in_event, out_event = len(op.input_shape), len(op.output_shape)
    dev = op._device()
    x = sample(g, (batch, *op.input_shape)).to(device=dev, dtype=dtype)
    v = torch.randn((batch, *op.output_shape), generator=g).to(device=dev, dtype=dtype)
    try:
        ax = work(x)
    except RuntimeError:
        work, dtype, tol = op, torch.float32, 30.0
        x, v = x.float(), v.float()
        ax = work(x)
    lhs, rhs = batch_dot(ax, v, out_event), batch_dot(x, work.adjoint(v), in_event)
    scale = _norm(ax, out_event) * _norm(v, out_event) + 1e-30
    _require(float(((lhs - rhs).abs() / scale).max()) < 1e-5 * tol,
             f"{name}: adjoint is not the transpose of forward")

    spec = work.spectral()

    def kept(u: torch.Tensor) -> torch.Tensor:
        """``u`` restricted to the modes with ``s > 0`` (a truncated ``pinv`` ignores the others)."""
        if spec is None:
            return u
        z = spec.to_modes(u)
        positive = spec.singular_values.to(device=dev, dtype=dtype) > 0
        return spec.from_modes(torch.where(positive, z, torch.zeros_like(z)))

    x_true = sample(g, (batch, *op.input_shape)).to(device=dev, dtype=dtype)
    y = work(x_true)
    p = work.project(x, y)
    _require(_rel(work(kept(p)), work(kept(x_true))) < 1e-4 * tol,
             f"{name}: project() is not feasible (||A P(x) - y|| > 1e-4 ||y||)")
    _require(_rel(work.project(p, y), p) < 1e-4 * tol,
             f"{name}: project() is not idempotent")

    row = kept(work.adjoint(v))
    _require(_rel(work.pinv(work(row)), row) < 1e-4 * tol,
             f"{name}: pinv(A x) != x on the row space")

    z = work.gram_solve(y, 0.5)
    _require(_rel(work(kept(work.adjoint(z))) + 0.5 * z, y) < 1e-4 * tol,
             f"{name}: gram_solve() does not invert A A^T + shift I")
    near = work.prox(x, y, 0.5)
    stationarity = kept(work.adjoint(work(near) - y)) + 0.5 * (near - x)
    _require(float(stationarity.norm() / (x.norm() + y.norm())) < 1e-4 * tol,
             f"{name}: prox() is not the minimiser")

    if spec is None:
        return
    modes = spec.to_modes(x)
    _require(_rel(spec.from_modes(modes), x) < 1e-6 * tol,
             f"{name}: from_modes(to_modes(x)) != x")
    m_event = spec.singular_values.dim()
    _require(float((_norm(modes, m_event) / _norm(x, in_event) - 1).abs().max()) < 1e-6 * tol,
             f"{name}: to_modes is not an isometry")
    s = spec.singular_values.to(device=dev, dtype=dtype)
    _require(float((_norm(s * modes, m_event) / _norm(ax, out_event) - 1).abs().max()) < 1e-4 * tol,
             f"{name}: ||A x|| != ||s * V^T x||: the singular values do not reproduce A")
    kept = spec.from_modes(torch.where(s > 0, modes, torch.zeros_like(modes)))
    _require(_rel(work.pinv(ax), kept) < 1e-4 * tol,
             f"{name}: pinv(A x) != projection onto the modes with s > 0")
