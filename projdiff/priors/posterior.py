"""Exact posteriors of Gaussian and Gaussian-mixture priors under linear Gaussian measurements.

For ``x ~ N(m, C)`` and ``y = A x + sigma_y n``:
``S = A C A^T + sigma_y^2 I``, ``K = C A^T S^+``, mean ``m + K (y - A m)``, covariance ``C - K A C``.
A mixture's posterior is the mixture of the component posteriors, reweighted by
``w_k N(y; A m_k, S_k)``. Noise-free measurements use the pseudo-inverse of ``S`` (and its
pseudo-determinant), which is exact when ``y`` lies in the range of ``A``.

Everything is dense (D x D) and in float64: these are reference answers for small problems.
"""

from __future__ import annotations

import copy
import math

import torch

MAX_DENSE_DIM = 8192


def operator_matrix(operator) -> torch.Tensor:
    """The matrix of a linear operator on flattened items, shape (m, D), float64."""
    d = math.prod(operator.input_shape)
    if d > MAX_DENSE_DIM:
        raise ValueError(f"operator.input_shape: exact posteriors are dense; expected at most {MAX_DENSE_DIM} "
                         f"entries per item, got {d}")
    if not getattr(operator, "linear", False):
        raise TypeError(f"operator: exact posteriors need a linear operator, got {type(operator).__name__}")
    eye = torch.eye(d, dtype=torch.float64).reshape(d, *operator.input_shape)
    try:
        columns = copy.deepcopy(operator).double()(eye)
    except (RuntimeError, TypeError):
        columns = operator(eye.float()).double()
    return columns.reshape(d, -1).T.contiguous()


def _pinv_and_logdet(s: torch.Tensor, rtol: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pseudo-inverse, log pseudo-determinant and rank of symmetric PSD matrices (..., m, m)."""
    lam, u = torch.linalg.eigh(s)
    keep = lam > rtol * lam.amax(-1, keepdim=True).clamp_min(1e-300)
    inv = torch.where(keep, 1 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
    pinv = (u * inv.unsqueeze(-2)) @ u.transpose(-1, -2)
    logdet = torch.where(keep, lam.clamp_min(1e-300).log(), torch.zeros_like(lam)).sum(-1)
    return pinv, logdet, keep.sum(-1)


def _sample_gaussian(mean: torch.Tensor, cov: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``mean + cov^(1/2) z`` with an eigen square root (covariances may be singular)."""
    lam, u = torch.linalg.eigh(cov)
    root = (u * lam.clamp_min(0).sqrt().unsqueeze(-2)) @ u.transpose(-1, -2)
    return mean + (root @ z.unsqueeze(-1)).squeeze(-1)


class GaussianMixturePosterior:
    """A posterior ``sum_k pi_k N(mean_k, cov_k)`` per input item (a Gaussian is one component).

    Attributes
    ----------
    weights : tensor of shape (B, K)
    means : tensor of shape (B, K, D)
    covs : tensor of shape (B, K, D, D)
    shape : tuple
        Item shape; ``mean``, ``variance`` and samples are reshaped to it.
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor, shape: tuple):
        self.weights, self.means, self.covs, self.shape = weights, means, covs, tuple(shape)

    @property
    def mean(self) -> torch.Tensor:
        """Posterior mean (the MMSE estimate), shape (B, *shape)."""
        return (self.weights.unsqueeze(-1) * self.means).sum(1).reshape(-1, *self.shape)

    def covariance(self) -> torch.Tensor:
        """Posterior covariance, shape (B, D, D)."""
        w = self.weights[..., None, None]
        mu = self.mean.reshape(self.means.shape[0], -1)
        second = (w * (self.covs + self.means.unsqueeze(-1) * self.means.unsqueeze(-2))).sum(1)
        return second - mu.unsqueeze(-1) * mu.unsqueeze(-2)

    @property
    def variance(self) -> torch.Tensor:
        """Per-entry posterior variance, shape (B, *shape)."""
        return self.covariance().diagonal(dim1=-2, dim2=-1).reshape(-1, *self.shape)

    def mmse(self) -> torch.Tensor:
        """``E[||x - E[x|y]||^2 | y]`` per item, shape (B,): the trace of the covariance."""
        return self.covariance().diagonal(dim1=-2, dim2=-1).sum(-1)

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact posterior samples, shape (num_samples, B, *shape), float64."""
        b, k, d = self.means.shape
        comp = torch.multinomial(self.weights.expand(num_samples, b, k).reshape(-1, k), 1, generator=generator)
        comp = comp.reshape(num_samples, b)
        z = torch.randn((num_samples, b, d), generator=generator, dtype=self.means.dtype)
        idx = torch.arange(b)
        out = torch.stack([_sample_gaussian(self.means[idx, comp[s]], self.covs[idx, comp[s]], z[s])
                           for s in range(num_samples)])
        return out.reshape(num_samples, b, *self.shape)


def mixture_posterior(weights, means, covs, operator, y: torch.Tensor, sigma_y) -> GaussianMixturePosterior:
    """Exact posterior of a Gaussian mixture prior given ``y = A x + sigma_y n``.

    Parameters
    ----------
    weights : tensor of shape (K,)
    means : tensor of shape (K, D)
    covs : list of K ``Covariance``
    operator : linear operator on items of D entries
    y : tensor of shape (B, *operator.output_shape)
    sigma_y : float or tensor of shape (B,)
    """
    a = operator_matrix(operator)
    yb = y.reshape(y.shape[0], -1).double()
    b, m = yb.shape
    s2 = torch.as_tensor(sigma_y, dtype=torch.float64).expand(b).reshape(b, 1, 1, 1) ** 2
    dense = torch.stack([c.dense() for c in covs])                              # (K, D, D)
    ac = a @ dense                                                              # (K, m, D)
    s = (ac @ a.T).unsqueeze(0) + s2 * torch.eye(m, dtype=torch.float64)       # (B, K, m, m)
    s_pinv, logdet, rank = _pinv_and_logdet(s)
    gain = ac.transpose(-1, -2).unsqueeze(0) @ s_pinv                           # (B, K, D, m)
    resid = yb.unsqueeze(1) - means.double() @ a.T                              # (B, K, m)
    post_means = means.double().unsqueeze(0) + (gain @ resid.unsqueeze(-1)).squeeze(-1)
    post_covs = dense.unsqueeze(0) - gain @ ac.unsqueeze(0)
    post_covs = 0.5 * (post_covs + post_covs.transpose(-1, -2))
    quad = (resid.unsqueeze(-2) @ s_pinv @ resid.unsqueeze(-1))[..., 0, 0]
    loglik = -0.5 * (quad + logdet + rank * math.log(2 * math.pi))
    post_w = torch.softmax(torch.log(weights.double()).unsqueeze(0) + loglik, dim=-1)
    return GaussianMixturePosterior(post_w, post_means, post_covs, tuple(operator.input_shape))
