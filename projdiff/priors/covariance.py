"""Covariance matrices in eigen form, for exact Gaussian denoisers.

``C = Q diag(lam) Q^T + rho (I - Q Q^T)`` with orthonormal columns ``Q`` (D, r): a full matrix
has r = D; a low-rank-plus-isotropic one ``F F^T + rho I`` has r = rank(F); a diagonal one has no
``Q`` (``lam`` holds the D variances). All three give the Gaussian denoiser
``C (C + s^2 I)^-1 v`` and the log-density of ``N(0, C + s^2 I)`` in O(D r) per item.
"""

from __future__ import annotations

import math

import torch


class Covariance:
    """A symmetric positive semi-definite D x D matrix in eigen form (float64).

    Build it with :meth:`full`, :meth:`diagonal` or :meth:`low_rank`.
    """

    def __init__(self, basis: torch.Tensor | None, eigenvalues: torch.Tensor, residual: float = 0.0):
        self.basis = basis
        self.eigenvalues = eigenvalues.clamp_min(0)
        self.residual = float(residual)
        self.dim = eigenvalues.shape[0] if basis is None else basis.shape[0]

    @classmethod
    def full(cls, matrix: torch.Tensor) -> "Covariance":
        """From a dense symmetric PSD matrix of shape (D, D)."""
        m = torch.as_tensor(matrix, dtype=torch.float64)
        if m.dim() != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"cov: expected a square matrix, got shape {tuple(m.shape)}")
        if not torch.allclose(m, m.T, atol=1e-8 * float(m.abs().max().clamp_min(1e-300))):
            raise ValueError("cov: expected a symmetric matrix, got an asymmetric one")
        lam, q = torch.linalg.eigh(m)
        if float(lam.min()) < -1e-8 * float(lam.abs().max()):
            raise ValueError(f"cov: expected a positive semi-definite matrix, got eigenvalue {float(lam.min()):.3g}")
        return cls(q, lam)

    @classmethod
    def diagonal(cls, variances: torch.Tensor) -> "Covariance":
        """From the D variances of a diagonal covariance."""
        v = torch.as_tensor(variances, dtype=torch.float64).flatten()
        if bool((v < 0).any()):
            raise ValueError("cov: expected non-negative variances, got a negative one")
        return cls(None, v)

    @classmethod
    def low_rank(cls, factor: torch.Tensor, residual: float) -> "Covariance":
        """``F F^T + residual * I`` from a factor ``F`` of shape (D, r)."""
        f = torch.as_tensor(factor, dtype=torch.float64)
        if f.dim() != 2:
            raise ValueError(f"factor: expected shape (D, r), got {tuple(f.shape)}")
        if residual < 0:
            raise ValueError(f"residual: expected a variance >= 0, got {residual}")
        q, s, _ = torch.linalg.svd(f, full_matrices=False)
        return cls(q, s**2 + residual, residual)

    @property
    def _partial(self) -> bool:
        return self.basis is not None and self.basis.shape[1] < self.dim

    def shrink(self, v: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """``C (C + s2 I)^-1 v`` for v of shape (N, D) and s2 of shape (N, 1)."""
        lam = self.eigenvalues
        if self.basis is None:
            return v * (lam / (lam + s2))
        coef = v @ self.basis
        out = (coef * (lam / (lam + s2))) @ self.basis.T
        if self._partial:
            out = out + (self.residual / (self.residual + s2)) * (v - coef @ self.basis.T)
        return out

    def log_density(self, v: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """``log N(v; 0, C + s2 I)`` for v of shape (N, D) and s2 of shape (N, 1); shape (N,)."""
        lam = self.eigenvalues + s2
        if self.basis is None:
            quad, logdet = (v**2 / lam).sum(-1), lam.log().sum(-1)
        else:
            coef = v @ self.basis
            quad, logdet = (coef**2 / lam).sum(-1), lam.log().sum(-1)
            if self._partial:
                rest = self.residual + s2[:, 0]
                quad = quad + ((v**2).sum(-1) - (coef**2).sum(-1)) / rest
                logdet = logdet + (self.dim - self.basis.shape[1]) * rest.log()
        return -0.5 * (quad + logdet + self.dim * math.log(2 * math.pi))

    def dense(self) -> torch.Tensor:
        """The matrix, shape (D, D), float64."""
        if self.basis is None:
            return torch.diag(self.eigenvalues)
        out = (self.basis * self.eigenvalues) @ self.basis.T
        if self._partial:
            out = out + self.residual * (torch.eye(self.dim, dtype=out.dtype) - self.basis @ self.basis.T)
        return out

    def sqrt_matvec(self, z: torch.Tensor) -> torch.Tensor:
        """``C^(1/2) z`` for z of shape (N, D): maps standard normal draws to ``N(0, C)``."""
        root = self.eigenvalues.sqrt()
        if self.basis is None:
            return z * root
        coef = z @ self.basis
        out = (coef * root) @ self.basis.T
        if self._partial:
            out = out + math.sqrt(self.residual) * (z - coef @ self.basis.T)
        return out
