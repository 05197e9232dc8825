"""Reference posteriors of nonlinear problems by self-normalised importance sampling from the prior.

For ``y = A(x) + sigma_y n`` with any forward map ``A``, draws ``x_j ~ prior`` weighted by the
likelihood ``exp(-||y - A(x_j)||^2 / (2 sigma_y^2))`` estimate the posterior mean and the per-entry
variance of every item. The same draws (a fixed seed) serve every item of a batch. The effective
sample size ``(sum w)^2 / sum w^2`` says how trustworthy an item's estimate is; small problems (a few
dimensions, a few measurements, ``sigma_y`` not tiny) with millions of draws are the intended use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImportancePosterior:
    """Weighted moments of the posterior of each item.

    Attributes
    ----------
    mean : tensor of shape (B, *shape)
    variance : tensor of shape (B, *shape)
        Per-entry posterior variance.
    effective_size : tensor of shape (B,)
        Effective sample size of each item's weights.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    effective_size: torch.Tensor

    def mmse(self) -> torch.Tensor:
        """``E[||x - E[x|y]||^2 | y]`` per item, shape (B,): the summed variance."""
        return self.variance.flatten(1).sum(-1)


def importance_posterior(prior, operator, y: torch.Tensor, sigma_y: float, *, draws: int = 2**22,
                         chunk: int = 2**17, seed: int = 0) -> ImportancePosterior:
    """Posterior moments of ``x`` given ``y = operator(x) + sigma_y n`` (see the module docstring).

    Parameters
    ----------
    prior : object with ``shape`` and ``sample(n, generator) -> (n, *shape)``
    operator : callable ``(n, *shape) -> (n, *output_shape)``
    y : tensor of shape (B, *output_shape)
    sigma_y : float > 0
    draws : int, default 2**22 (about 4 million)
    chunk : int, default 2**17
        Draws per pass (memory: B x chunk log-weights).
    seed : int, default 0
    """
    if not sigma_y > 0:
        raise ValueError(f"sigma_y: importance sampling needs noisy measurements, got {sigma_y}")
    g = torch.Generator().manual_seed(seed)
    targets = y.reshape(y.shape[0], -1).double()
    top = torch.full((targets.shape[0],), -torch.inf, dtype=torch.float64)
    total = torch.zeros_like(top)
    squares = torch.zeros_like(top)
    first = second = None
    for start in range(0, draws, chunk):
        x = prior.sample(min(chunk, draws - start), g).double()
        fx = operator(x).reshape(x.shape[0], -1).double()
        distance = torch.cdist(targets, fx, compute_mode="donot_use_mm_for_euclid_dist") ** 2  # (B, n)
        logw = -distance / (2 * sigma_y**2)
        new_top = torch.maximum(top, logw.max(dim=1).values)
        rescale = torch.exp(top - new_top)
        w = torch.exp(logw - new_top[:, None])
        flat = x.reshape(x.shape[0], -1)
        total = total * rescale + w.sum(1)
        squares = squares * rescale**2 + (w**2).sum(1)
        first = (0 if first is None else first * rescale[:, None]) + w @ flat
        second = (0 if second is None else second * rescale[:, None]) + w @ flat**2
        top = new_top
    mean = first / total[:, None]
    variance = (second / total[:, None] - mean**2).clamp_min(0)
    shape = (y.shape[0], *prior.shape)
    return ImportancePosterior(mean.reshape(shape), variance.reshape(shape), total**2 / squares)
