"""Projection onto ``{x : A(x) = y}`` for a differentiable, possibly nonlinear ``A``: trust-region Gauss-Newton.

Each iteration solves ``J J^T z = r`` for the residual ``r = y - A(x)`` by conjugate gradients
(``J`` the Jacobian at ``x``, products through ``torch.func.jvp``/``vjp``) and takes the
minimum-norm Gauss-Newton step ``J^T z``, shortened to the item's trust radius (first
``0.1 * (1 + ||x||)``). The step is kept only when ``||r||`` falls and the fall of ``||r||^2`` is
between a quarter and four times what the linearisation predicts; then the radius doubles (when
the step was long and the prediction good), otherwise the radius shrinks fourfold. So a step that
the linearisation cannot be trusted with (a jump into a region where a saturating ``A`` is flat,
which lowers the residual by luck) is refused and retried shorter, and the iterates stay near the
start. Every item of a batch has its own radius and stops on its own.

For a linear ``A`` this reaches the orthogonal projection (the Gauss-Newton step, after a few
doublings of the radius when it is long). For a nonlinear one the result is a nearby point of the
constraint set, not necessarily the nearest. An item that does not
reach ``||r|| <= tol * (1 + ||y||)`` within ``max_iter`` iterations, or whose radius collapses
(``y`` is outside the range of ``A``, or ``A`` is flat near the start), raises
:class:`ProjectionError`.
"""

from __future__ import annotations

from typing import Callable

import torch

from projdiff.operators.linalg import batch_dot, conjugate_gradient

ACCEPT = 0.25   # a step is kept when actual / predicted decrease of ||r||^2 is in [ACCEPT, 1 / ACCEPT]
STALL = 1e-10   # radius (relative to 1 + ||x||) below which an item is declared stalled
START = 0.1     # first trust radius, relative to 1 + ||x||


class ProjectionError(ValueError):
    """``project`` could not reach ``A(x) = y``: the constraint cannot be met from this start."""


def _norm(v: torch.Tensor, event_dims: int) -> torch.Tensor:
    return batch_dot(v, v, event_dims).sqrt()


def trust_region_projection(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                            event_dims: int, *, tol: float = 1e-4, max_iter: int = 100,
                            cg_iter: int = 50) -> torch.Tensor:
    """A point near ``x`` with ``forward(point) = y`` (see the module docstring).

    Parameters
    ----------
    forward : callable
        ``A``: ``(*batch, *input_shape) -> (*batch, *output_shape)``, differentiable by ``torch.func``.
    x : tensor of shape (*batch, *input_shape)
        Start.
    y : tensor broadcastable to (*batch, *output_shape)
        Target measurements.
    event_dims : int
        ``len(output_shape)``: the trailing dimensions that form one measurement.
    tol : float, default 1e-4
        Items stop once ``||y - A(x)|| <= tol * (1 + ||y||)``.
    max_iter : int, default 100
        Iterations (each: one Jacobian, one conjugate-gradient solve, two forward-mode products
        and one trial forward pass).
    cg_iter : int, default 50
        Conjugate-gradient iterations per solve.

    Raises
    ------
    ProjectionError
        When some item does not meet the tolerance.
    """
    x = x.detach()
    residual = (y - forward(x)).detach()
    y = y.expand_as(residual)
    in_dims = x.dim() - residual.dim() + event_dims
    norm = _norm(residual, event_dims)
    limit = tol * (1 + _norm(y, event_dims))
    radius = START * (1 + _norm(x, in_dims))
    done = norm <= limit
    column = (...,) + (None,) * event_dims
    in_column = (...,) + (None,) * in_dims
    for _ in range(max_iter):
        stalled = radius < STALL * (1 + _norm(x, in_dims))
        if bool((done | stalled).all()):
            break
        with torch.enable_grad():
            _, vjp = torch.func.vjp(forward, x)

            def jjt(v: torch.Tensor, x=x, vjp=vjp) -> torch.Tensor:
                return torch.func.jvp(forward, (x,), (vjp(v)[0],))[1]

            step = vjp(conjugate_gradient(jjt, residual, event_dims, max_iter=cg_iter))[0].detach()
            length = _norm(step, in_dims)
            step = step * (radius / length.clamp_min(1e-30)).clamp(max=1.0)[in_column]
            change = torch.func.jvp(forward, (x,), (step,))[1].detach()
        trial = x + step
        trial_residual = (y - forward(trial)).detach()
        trial_norm = _norm(trial_residual, event_dims)
        predicted = norm**2 - _norm(residual - change, event_dims) ** 2
        gain = (norm**2 - trial_norm**2) / predicted.clamp_min(1e-30)
        trusted = torch.isfinite(trial_norm) & (gain >= ACCEPT) & (gain <= 1 / ACCEPT)
        better = ~done & ~stalled & trusted & (trial_norm < norm)
        x = torch.where(better[in_column], trial, x)
        residual = torch.where(better[column], trial_residual, residual)
        norm = torch.where(better, trial_norm, norm)
        taken = torch.nan_to_num(_norm(step, in_dims), nan=0.0, posinf=0.0)
        grow = better & (gain > 0.75) & (gain < 1.5) & (taken >= 0.9 * radius)
        radius = torch.where(grow, 2 * radius, torch.where(better | done, radius, 0.25 * taken.clamp(max=radius)))
        done = norm <= limit
    if not bool(done.all()):
        failed = int((~done).sum())
        worst = float((norm / limit * tol)[~done].max())
        raise ProjectionError(
            f"project: {failed} of {done.numel()} items did not reach A(x) = y (relative residual {worst:.3g} > "
            f"tol {tol:g} after at most {max_iter} Gauss-Newton steps); y may lie outside the range of the "
            f"operator (noisy measurements of a bounded function?) or A is flat near the start. Pass a y that A "
            f"can produce, or a larger tolerance / iteration count to the operator")
    return x
