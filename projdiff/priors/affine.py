"""Change of data units for a prior: the one place where, e.g., pixels in [0, 1] meet a [-1, 1] model.

If the prior models ``u`` and the user's data is ``x = scale * u + shift``, then
``x + sigma * eps = scale * (u + (sigma / |scale|) * eps') + shift`` with ``eps' = sign(scale) eps``,
so the exact denoiser in the user's units is
``D_x(x, sigma) = scale * D_u((x - shift) / scale, sigma / |scale|) + shift``.
Noise levels, including ``sigma_y``, are therefore simply in the user's units: for pixels in
[0, 1] and a [-1, 1] model (``scale = 0.5``, ``shift = 0.5``) a pixel noise of 0.05 is a model-space
noise of 0.1. Nothing else changes: operators and measurements stay in the user's units.
"""

from __future__ import annotations

import torch

from projdiff.priors.base import Prior, sigma_column


class AffinePrior(Prior):
    """The prior of ``x = scale * u + shift`` for ``u`` distributed as ``prior``.

    Parameters
    ----------
    prior : Prior
    scale : float, nonzero
    shift : float

    Examples
    --------
    Pixels in [0, 1] for a prior trained on [-1, 1]:

    >>> from projdiff.priors import AffinePrior, GaussianPrior
    >>> import torch
    >>> pixels = AffinePrior(GaussianPrior(torch.zeros(3), torch.ones(3)), scale=0.5, shift=0.5)
    >>> pixels.sigma_max
    40.0
    """

    def __init__(self, prior: Prior, scale: float, shift: float = 0.0):
        super().__init__()
        if scale == 0:
            raise ValueError("scale: expected a nonzero float, got 0")
        self.prior = prior
        self.scale, self.shift = float(scale), float(shift)
        self.shape = prior.shape
        self.sigma_min = prior.sigma_min * abs(self.scale)
        self.sigma_max = prior.sigma_max * abs(self.scale)
        self.sigmas = None if prior.sigmas is None else prior.sigmas * abs(self.scale)
        self.sigma_data = None if prior.sigma_data is None else prior.sigma_data * abs(self.scale)
        self.data_center = self.scale * prior.data_center + self.shift
        self.exact = bool(getattr(prior, "exact", False))

    def check_shape(self, shape) -> None:
        self.prior.check_shape(shape)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma_column(sigma, x).flatten() / abs(self.scale)
        return self.scale * self.prior.denoise((x - self.shift) / self.scale, s) + self.shift

    @classmethod
    def unit_interval(cls, prior: Prior) -> "AffinePrior":
        """Data in [0, 1] for a prior whose ``data_range`` (default (-1, 1)) is another interval."""
        lo, hi = getattr(prior, "data_range", (-1.0, 1.0))
        return cls(prior, scale=1.0 / (hi - lo), shift=-lo / (hi - lo))
