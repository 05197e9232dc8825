"""Matrix-free linear algebra shared by the operators: batched conjugate gradients and traces.

"Batched" means every leading index is an independent system: vectors have shape
``(*batch, *event)`` and inner products run over the ``event_dims`` trailing dimensions.
"""

from __future__ import annotations

from typing import Callable

import torch

Matvec = Callable[[torch.Tensor], torch.Tensor]


def batch_dot(a: torch.Tensor, b: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Real inner product over the last ``event_dims`` dimensions; shape ``a.shape[:-event_dims]``."""
    dims = tuple(range(-event_dims, 0))
    return (a.conj() * b).real.sum(dim=dims)


def _expand(v: torch.Tensor, event_dims: int) -> torch.Tensor:
    return v.reshape(v.shape + (1,) * event_dims)


def conjugate_gradient(matvec: Matvec, b: torch.Tensor, event_dims: int, *, tol: float = 1e-6,
                       max_iter: int = 500) -> torch.Tensor:
    """Solve ``M z = b`` for a symmetric positive semi-definite ``M`` given by ``matvec``.

    Each leading index of ``b`` is its own system; a system stops once its residual is below
    ``tol * ||b||``. For a singular but consistent system (``b`` in the range of ``M``), CG started
    at zero returns the minimum-norm solution.

    Parameters
    ----------
    matvec : callable
        ``z -> M z`` on tensors shaped like ``b``.
    b : tensor of shape (*batch, *event)
    event_dims : int
        Number of trailing dimensions that form one vector.

    Returns
    -------
    tensor shaped like ``b``.
    """
    z = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = batch_dot(r, r, event_dims)
    threshold = (tol**2) * batch_dot(b, b, event_dims)
    for _ in range(max_iter):
        active = rs > threshold
        if not bool(active.any()):
            break
        mp = matvec(p)
        denom = batch_dot(p, mp, event_dims)
        alpha = torch.where(active & (denom > 0), rs / torch.where(denom > 0, denom, torch.ones_like(denom)),
                            torch.zeros_like(rs))
        z = z + _expand(alpha, event_dims) * p
        r = r - _expand(alpha, event_dims) * mp
        rs_new = batch_dot(r, r, event_dims)
        beta = torch.where(active, rs_new / torch.where(rs > 0, rs, torch.ones_like(rs)), torch.zeros_like(rs))
        p = r + _expand(beta, event_dims) * p
        rs = rs_new
    return z


def trace_estimate(matvec: Matvec, shape: tuple[int, ...], *, probes: int = 64, seed: int = 0,
                   device=None) -> float:
    """Hutchinson estimate of ``trace(M)`` with float32 Rademacher probes of the given ``shape``."""
    g = torch.Generator().manual_seed(seed)
    z = (torch.randint(0, 2, (probes, *shape), generator=g) * 2 - 1).to(dtype=torch.float32, device=device)
    return float(batch_dot(z, matvec(z), len(shape)).double().mean())
