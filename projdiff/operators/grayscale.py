"""Observe an RGB image through a degradation of its gray image: ``y = D(mean over channels of x)``."""

from __future__ import annotations

import torch

from projdiff.operators._common import check_trailing
from projdiff.operators.base import LinearOperator, Spectral

_R2, _R3, _R6 = 2.0 ** 0.5, 3.0 ** 0.5, 6.0 ** 0.5


class GrayscaleObservation(LinearOperator):
    """``A = D L`` with ``L`` the channel mean ``(3, H, W) -> (1, H, W)`` and ``D`` a linear operator on gray images.

    This is how an RGB prior restores a grayscale photograph: the unknown is a colour image whose gray
    image is what the degradation saw. ``L`` has orthogonal rows, ``L L^T = I / 3``, so

    - ``A A^T = D D^T / 3``: tight when ``D`` is (``frame_constant = c / 3`` when ``D`` has ``c``),
      and ``noise_gain = sqrt(3) * D.noise_gain()`` in general;
    - ``spectral()`` from ``D``'s: with ``Q = sqrt(3) L`` (orthonormal rows) and ``D = U S V^T``,
      ``A = U (S / sqrt 3) (Q^T V)^T``; the modes are ``V^T Q x`` (singular values ``s / sqrt 3``)
      and two orthonormal chroma coordinates per pixel (singular value 0);
    - ``A^+ = L^+ D^+``: the pseudo-inverse of the gray measurement, copied into the three channels;
    - ``(A A^T + s I)^-1 = 3 (D D^T + 3 s I)^-1`` (``gram_solve`` through ``D``'s own).

    Parameters
    ----------
    degradation : LinearOperator
        ``D``, with ``input_shape`` ``(1, H, W)``.
    """

    def __init__(self, degradation: LinearOperator):
        if not getattr(degradation, "linear", False):
            raise TypeError(f"degradation: expected a linear operator, got {type(degradation).__name__}")
        shape = tuple(degradation.input_shape)
        if len(shape) != 3 or shape[0] != 1:
            raise ValueError(f"degradation.input_shape: expected (1, H, W), got {shape}")
        frame = getattr(degradation, "frame_constant", None)
        super().__init__(input_shape=(3, *shape[1:]), frame_constant=None if frame is None else frame / 3.0)
        self.degradation = degradation
        self._output_shape = tuple(degradation.output_shape)

    @property
    def tight(self) -> bool:
        """``A A^T = D D^T / 3``: all nonzero singular values are equal exactly when ``D``'s are."""
        return bool(getattr(self.degradation, "tight", False))

    def spectral(self) -> Spectral | None:
        """The SVD through ``D``'s (see the class docstring); else the base class's (tight: None)."""
        inner = self.degradation.spectral() if not self.tight else None
        if inner is None:
            return super().spectral()

        def to_modes(x: torch.Tensor) -> torch.Tensor:
            r, g, b = x[..., 0:1, :, :], x[..., 1:2, :, :], x[..., 2:3, :, :]
            luminance = inner.to_modes((r + g + b) / _R3)
            chroma = torch.cat([(r - g) / _R2, (r + g - 2 * b) / _R6], dim=-3)
            return torch.cat([luminance, chroma.to(luminance.dtype)], dim=-3)

        def from_modes(z: torch.Tensor) -> torch.Tensor:
            gray = inner.from_modes(z[..., :1, :, :]) / _R3
            c1, c2 = z[..., 1:2, :, :].real / _R2, z[..., 2:3, :, :].real / _R6
            return torch.cat([gray + c1 + c2, gray - c1 + c2, gray - 2 * c2], dim=-3)

        values = inner.singular_values / _R3
        return Spectral(to_modes, from_modes, torch.cat([values, torch.zeros_like(values).expand(2, *values.shape[1:])]))

    def _gray(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_shape(x)
        return x.mean(dim=-3, keepdim=True)

    @staticmethod
    def _copies(gray: torch.Tensor) -> torch.Tensor:
        return gray.expand(*gray.shape[:-3], 3, *gray.shape[-2:]).clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.degradation(self._gray(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``L^T D^T y``: ``D^T y / 3`` in each channel."""
        check_trailing(y, self.output_shape, "y")
        return self._copies(self.degradation.adjoint(y) / 3.0)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``L^+ D^+ y``: ``D^+ y`` in each channel."""
        check_trailing(y, self.output_shape, "y")
        return self._copies(self.degradation.pinv(y))

    def gram_solve(self, v: torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
        return 3.0 * self.degradation.gram_solve(v, 3.0 * shift)

    def noise_gain(self) -> float:
        if self._noise_gain is None:
            self._noise_gain = 3.0 ** 0.5 * self.degradation.noise_gain()
        return self._noise_gain
