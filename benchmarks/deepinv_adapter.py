"""Run deepinv 0.5.0 on projdiff's priors and operators, so that both engines call the same network.

deepinv is not a dependency of ``projdiff``; only the benchmarks import it (``pip install -e ".[bench]"``).

Units. deepinv's solvers take images in [0, 1] and a denoiser ``forward(x, sigma)`` with ``sigma`` in
the units of ``x``. A :class:`UnitMap` ``x_img = shift + scale * x`` takes data in the units of the
measurements (the "data units") to deepinv's image units:

- restoration with a learned prior: the data are pixels in [0, 1] already and the prior is
  ``AffinePrior.unit_interval(model)`` (``x = 0.5 u + 0.5`` for a model ``u`` in [-1, 1]), the same
  object projdiff's solvers get, so the map is the identity ``UnitMap(1, 0)``;
- exact-posterior problems (zero-mean Gaussian fields of unit scale): ``UnitMap.for_mixture`` picks
  ``x_img = 0.5 + c x`` with ``c = 0.5 / max_{k,i}(|mean_k,i| + 4 sd_k,i)`` so that every component
  of the prior keeps four standard deviations of every entry inside [0, 1] (deepinv's DPS and
  DiffPIR clip their estimates to [0, 1]). Samples are mapped back with ``x = (x_img - 0.5) / c``.
  MSE ratios and coverage do not change under this map; the solvers' hand-set constants (DPS's
  guidance weight, DDRM's noise grid from 1 to 0) do, which is what running them on images in
  [0, 1] means.

The denoiser in image units is ``AffinePrior(prior, scale, shift)``:
``D_img(x, s) = shift + scale * D((x - shift) / scale, s / scale)``, exact for any prior.

Operators. :func:`physics` wraps a linear operator as a deepinv ``LinearPhysics`` whose ``A``,
``A_adjoint``, ``A_dagger`` and ``prox_l2`` call the operator's own exact ``forward``, ``adjoint``,
``pinv`` and ``prox`` (deepinv would otherwise solve least-squares problems iteratively), or as a
``DecomposablePhysics`` (needed by DDRM) when the operator has an SVD ``A = U diag(s) V^T``:

- ``Inpainting`` with one mask for all items: ``V = I``, ``s = mask``;
- ``Blur``: the modes are the real view of ``rfft2(x, norm="ortho")`` (real and imaginary parts in a
  trailing dimension of 2, ``s = |K_hat|`` on the half spectrum), the representation of deepinv's own
  ``BlurFFT``, whose noise conventions DDRM's constants assume;
- any other operator with ``spectral()`` and real modes (``MatrixOperator``): its ``V`` and ``s``.

``U`` is always derived from the operator: ``U z = A V (z / s)`` and ``U^T y = (V^T A^T y) / s`` on the
modes with ``s > 0`` (zero elsewhere), i.e. the columns of ``U`` for the nonzero singular values.
Singular values are those of ``spectral()``, truncated like projdiff's own per-mode path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from deepinv.models import Denoiser
from deepinv.physics import DecomposablePhysics, GaussianNoise, LinearPhysics

from projdiff.operators import Blur, Inpainting, LinearOperator
from projdiff.priors import AffinePrior, GaussianMixturePrior
from projdiff.priors.base import Prior

Modes = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class UnitMap:
    """``x_img = shift + scale * x``: data units to deepinv's image units.

    Attributes
    ----------
    scale : float, nonzero
    shift : float
    """

    scale: float = 1.0
    shift: float = 0.0

    @classmethod
    def for_mixture(cls, prior: GaussianMixturePrior, spread: float = 4.0) -> "UnitMap":
        """``x_img = 0.5 + c x`` with ``c = 0.5 / max_{k,i}(|mean_k,i| + spread * sd_k,i)``."""
        sd = torch.stack([cov.dense().diagonal().sqrt() for cov in prior.covs])
        reach = float((prior.means.abs() + spread * sd).max())
        return cls(scale=0.5 / reach, shift=0.5)

    def prior(self, prior: Prior) -> Prior:
        """The prior of ``x_img`` (``prior`` itself for the identity map)."""
        return prior if (self.scale, self.shift) == (1.0, 0.0) else AffinePrior(prior, self.scale, self.shift)

    def to_image(self, x: torch.Tensor) -> torch.Tensor:
        """Data of shape (*batch, *input_shape) to image units."""
        return self.shift + self.scale * x

    def from_image(self, x: torch.Tensor) -> torch.Tensor:
        """Image units back to data units."""
        return (x - self.shift) / self.scale

    def measurement(self, operator: LinearOperator, y: torch.Tensor) -> torch.Tensor:
        """``A x_img = scale * y + A(shift * 1)`` for measurements ``y`` (B, *output_shape) of ``x``."""
        offset = operator(torch.full((1, *operator.input_shape), self.shift, dtype=y.dtype, device=y.device))
        return self.scale * y + offset

    def noise(self, sigma_y: float) -> float:
        """Measurement noise level in image units."""
        return abs(self.scale) * float(sigma_y)


class PriorDenoiser(Denoiser):
    """A projdiff prior as a deepinv ``Denoiser``: ``forward(x, sigma)`` on images in [0, 1].

    Parameters
    ----------
    prior : Prior
        Denoiser in data units.
    units : UnitMap, default identity
        Data units to image units; the network is called through ``units.prior(prior)``
        (``AffinePrior(prior, scale, shift)``, see the module docstring).

    Attributes
    ----------
    calls : int
        Forward calls so far (deepinv's NFE; DPS and PiGDM also back-propagate through each call).
    """

    def __init__(self, prior: Prior, units: UnitMap = UnitMap()):
        super().__init__()
        self.prior = units.prior(prior)
        self.calls = 0

    def forward(self, x: torch.Tensor, sigma, *args, **kwargs) -> torch.Tensor:
        """Denoise ``x`` of shape (N, *shape) at ``sigma``: a float, a 0-d tensor or one value per item."""
        self.calls += 1
        level = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
        return self.prior.denoise(x, level.expand(x.shape[0]) if level.numel() == 1 else level)


class _OperatorMethods:
    """``A``, ``A_adjoint``, ``A_dagger`` and ``prox_l2`` through the wrapped operator's exact methods."""

    operator: LinearOperator

    def A(self, x: torch.Tensor, **kwargs) -> torch.Tensor:  # noqa: N802 - deepinv's name
        return self.operator(x)

    def A_adjoint(self, y: torch.Tensor, **kwargs) -> torch.Tensor:  # noqa: N802
        return self.operator.adjoint(y)

    def A_dagger(self, y: torch.Tensor, **kwargs) -> torch.Tensor:  # noqa: N802
        return self.operator.pinv(y)

    def prox_l2(self, z: torch.Tensor, y: torch.Tensor, gamma, **kwargs) -> torch.Tensor:
        """``argmin_x gamma/2 ||A x - y||^2 + 1/2 ||x - z||^2`` = ``operator.prox(z, y, rho=1/gamma)``."""
        return self.operator.prox(z, y, 1.0 / gamma)


class OperatorPhysics(_OperatorMethods, LinearPhysics):
    """A projdiff ``LinearOperator`` as a deepinv ``LinearPhysics`` with Gaussian noise ``sigma``."""

    def __init__(self, operator: LinearOperator, sigma: float):
        super().__init__(noise_model=GaussianNoise(sigma=sigma), img_size=tuple(operator.input_shape))
        self.operator = operator


class DecomposedPhysics(_OperatorMethods, DecomposablePhysics):
    """A projdiff ``LinearOperator`` with an SVD as a deepinv ``DecomposablePhysics`` (see the module docstring).

    Parameters
    ----------
    operator : LinearOperator
    modes : (to_modes, from_modes, singular_values)
        ``V^T``, ``V`` (real modes of shape ``mode_shape``) and ``s`` of shape ``mode_shape``.
    sigma : float
        Gaussian noise level of the measurements.
    dtype : torch.dtype
        Of the singular values (deepinv's DDRM mixes them with the measurements in place).
    """

    def __init__(self, operator: LinearOperator, modes: Modes, sigma: float, dtype: torch.dtype):
        to_modes, from_modes, values = modes
        super().__init__(mask=values.unsqueeze(0).to(dtype), noise_model=GaussianNoise(sigma=sigma),
                         img_size=tuple(operator.input_shape))
        self.operator = operator
        self._to_modes, self._from_modes = to_modes, from_modes

    def _over_values(self, z: torch.Tensor) -> torch.Tensor:
        values = self.mask.to(z.dtype)
        kept = values > 0
        return torch.where(kept, z / torch.where(kept, values, torch.ones_like(values)), torch.zeros_like(z))

    def V_adjoint(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return self._to_modes(x)

    def V(self, z: torch.Tensor, **kwargs) -> torch.Tensor:  # noqa: N802
        return self._from_modes(z)

    def U(self, z: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return self.operator(self._from_modes(self._over_values(z)))

    def U_adjoint(self, y: torch.Tensor, **kwargs) -> torch.Tensor:  # noqa: N802
        return self._over_values(self._to_modes(self.operator.adjoint(y)))


def _half_spectrum_modes(operator: Blur) -> Modes:
    """Real view of ``rfft2(., norm="ortho")`` and ``|K_hat|`` on the half spectrum (deepinv's ``BlurFFT``)."""
    height, width = operator.input_shape[-2:]
    half = operator.spectral().singular_values[..., : width // 2 + 1]

    def to_modes(x: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(torch.fft.rfft2(x, norm="ortho"))

    def from_modes(z: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(torch.view_as_complex(z.contiguous()), s=(height, width), norm="ortho")

    return to_modes, from_modes, torch.stack([half, half], dim=-1)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def svd_modes(operator: LinearOperator) -> Modes | None:
    """``(V^T, V, s)`` with real modes for DDRM, or ``None`` when the operator has no SVD of that kind."""
    if isinstance(operator, Inpainting):
        return None if operator.per_item else (_identity, _identity, operator.mask.clone())
    if isinstance(operator, Blur):
        return _half_spectrum_modes(operator)
    spectral = operator.spectral()
    if spectral is None:
        return None
    probe = spectral.to_modes(torch.zeros((1, *operator.input_shape), dtype=spectral.singular_values.dtype))
    return None if probe.is_complex() else (spectral.to_modes, spectral.from_modes, spectral.singular_values)


def physics(operator: LinearOperator, sigma: float, dtype: torch.dtype = torch.float32) -> LinearPhysics:
    """deepinv physics for ``operator`` with Gaussian noise ``sigma`` (image units): a
    ``DecomposedPhysics`` (singular values in ``dtype``) when :func:`svd_modes` finds an SVD, else an
    ``OperatorPhysics``."""
    modes = svd_modes(operator)
    return OperatorPhysics(operator, sigma) if modes is None else DecomposedPhysics(operator, modes, sigma, dtype)

