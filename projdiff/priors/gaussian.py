"""Analytic priors with exact denoisers and exact posteriors: Gaussian and Gaussian mixture."""

from __future__ import annotations

from typing import Sequence

import torch

from projdiff.priors.base import Prior, sigma_column
from projdiff.priors.covariance import Covariance
from projdiff.priors.posterior import GaussianMixturePosterior, mixture_posterior


def as_covariance(cov, dim: int) -> Covariance:
    """Accept a ``Covariance``, a (D, D) matrix or D variances (diagonal)."""
    if isinstance(cov, Covariance):
        out = cov
    else:
        t = torch.as_tensor(cov, dtype=torch.float64)
        if not bool(torch.isfinite(t).all()):
            raise ValueError("cov: expected finite values, got NaN or Inf")
        out = Covariance.full(t) if t.dim() == 2 and t.shape == (dim, dim) else Covariance.diagonal(t)
    if out.dim != dim:
        raise ValueError(f"cov: expected a covariance over {dim} entries (the mean's size), got {out.dim}")
    return out


class GaussianMixturePrior(Prior):
    """``x ~ sum_k w_k N(mean_k, cov_k)`` with the exact denoiser ``E[x0 | x0 + sigma eps = x]``.

    Parameters
    ----------
    weights : tensor of shape (K,)
        Non-negative; normalised to sum to 1.
    means : tensor of shape (K, *shape)
        Component means; ``shape`` is the item shape (e.g. (1, 8, 8)).
    covs : sequence of K covariances
        Each a (D, D) matrix, D variances (diagonal) or a :class:`Covariance`
        (``Covariance.low_rank(F, rho)`` for ``F F^T + rho I``), with D = prod(shape).
    sigma_min, sigma_max : float, default 0.002 and 80
        Range of the default noise schedule.

    ``sigma_data`` is the exact root-mean-square standard deviation of an entry. The denoiser and posteriors are computed in float64 and returned in the input's dtype.
    """

    exact = True

    def __init__(self, weights, means, covs: Sequence, *, sigma_min: float = 0.002, sigma_max: float = 80.0):
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float64).flatten()
        m = torch.as_tensor(means, dtype=torch.float64)
        if m.dim() < 2 or m.shape[0] != w.shape[0] or len(covs) != w.shape[0]:
            raise ValueError(f"means/covs: expected {w.shape[0]} components (one per weight), got means of shape "
                             f"{tuple(m.shape)} and {len(covs)} covariances")
        for name, value in (("weights", w), ("means", m)):
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name}: expected finite values, got NaN or Inf")
        if bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"weights: expected non-negative values with a positive sum, got {w.tolist()}")
        self.weights = w / w.sum()
        self.shape = tuple(m.shape[1:])
        self.means = m.reshape(m.shape[0], -1)
        self.covs = [as_covariance(c, self.means.shape[1]) for c in covs]
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        centre = self.weights @ self.means
        spread = sum(float(w) * (c.dense().diagonal() + (m - centre) ** 2)
                     for w, m, c in zip(self.weights, self.means, self.covs))
        self.sigma_data = float(spread.mean().sqrt())
        self.data_center = centre.reshape(self.shape)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).double()
        s2 = sigma_column(sigma, flat).double() ** 2
        logits = torch.stack([self.weights[k].log() + c.log_density(flat - self.means[k], s2)
                              for k, c in enumerate(self.covs)], dim=-1)
        resp = torch.softmax(logits, dim=-1)
        est = torch.stack([self.means[k] + c.shrink(flat - self.means[k], s2) for k, c in enumerate(self.covs)], -1)
        return (est * resp.unsqueeze(1)).sum(-1).to(x.dtype).reshape(x.shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws from the prior, shape (n, *shape), float64."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn((n, self.means.shape[1]), generator=generator, dtype=torch.float64)
        out = torch.empty_like(z)
        for k, c in enumerate(self.covs):
            sel = comp == k
            out[sel] = self.means[k] + c.sqrt_matvec(z[sel])
        return out.reshape(n, *self.shape)

    def posterior(self, operator, y: torch.Tensor, sigma_y: float | torch.Tensor = 0.0) -> GaussianMixturePosterior:
        """Exact posterior given ``y = A x + sigma_y n`` for a linear ``operator`` (dense, float64).

        Returns an object with ``mean`` (B, *shape), ``variance`` (B, *shape), ``covariance()``
        (B, D, D), ``mmse()`` (B,) and ``sample(num_samples, generator)``.
        """
        if tuple(operator.input_shape) != self.shape:
            raise ValueError(f"operator.input_shape: expected {self.shape} (the prior's shape), "
                             f"got {tuple(operator.input_shape)}")
        return mixture_posterior(self.weights, self.means, self.covs, operator, y, sigma_y)


class GaussianPrior(GaussianMixturePrior):
    """``x ~ N(mean, cov)`` with the exact denoiser ``mean + C (C + sigma^2 I)^-1 (x - mean)``.

    Parameters
    ----------
    mean : tensor of item shape (e.g. (1, 8, 8) or (64,))
    cov : (D, D) matrix, D variances, or a :class:`Covariance` (see ``GaussianMixturePrior``)
    sigma_min, sigma_max : float, default 0.002 and 80

    Examples
    --------
    >>> import torch
    >>> from projdiff.priors import GaussianPrior
    >>> prior = GaussianPrior(torch.zeros(2), torch.tensor([1.0, 4.0]))
    >>> prior.denoise(torch.tensor([[2.0, 2.0]]), torch.tensor([1.0]))
    tensor([[1.0000, 1.6000]])
    """

    def __init__(self, mean, cov, *, sigma_min: float = 0.002, sigma_max: float = 80.0):
        mean = torch.as_tensor(mean, dtype=torch.float64)
        super().__init__(torch.ones(1), mean.unsqueeze(0), [cov], sigma_min=sigma_min, sigma_max=sigma_max)
        self.mean = mean
        self.cov = self.covs[0]

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).double()
        s2 = sigma_column(sigma, flat).double() ** 2
        return (self.means[0] + self.cov.shrink(flat - self.means[0], s2)).to(x.dtype).reshape(x.shape)
