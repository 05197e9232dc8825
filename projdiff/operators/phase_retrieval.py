"""Fourier phase retrieval: magnitudes of the oversampled 2D Fourier transform (nonlinear)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from projdiff.operators._common import as_float, as_shape, check_trailing
from projdiff.operators.base import Operator


class PhaseRetrieval(Operator):
    """``y = |fft2(pad(x), norm="ortho")|``, per channel, on a zero-padded (oversampled) grid.

    Each ``H x W`` image is zero-padded, centred, to ``Hp x Wp`` with
    ``Hp = round(oversampling * H)`` and ``Wp = round(oversampling * W)``. Output shape
    ``(*lead, Hp, Wp)`` for input ``(*lead, H, W)`` (typically ``(C, H, W) -> (C, Hp, Wp)``). The
    measurement is invariant to the sign of ``x`` (and to translations and flips of the support
    content), so solutions are defined only up to these ambiguities.

    ``project(x, y)`` is one error-reduction (Gerchberg-Saxton) step: keep the Fourier phase of
    ``pad(x)``, impose the magnitudes ``y``, transform back, take the real part and crop to the
    image support. It reduces ``||A(x) - y||`` locally but is neither an exact projection onto
    ``{A(x) = y}`` (that set is not convex) nor idempotent: applying it twice generally moves
    ``x`` again.

    Equivalent noise (``noise_gain() = 1 / sqrt(2)``). With ``y = |F| + sigma n``, ``n`` white
    with unit variance on the ``Hp x Wp`` grid, one ER step returns
    ``x' = crop(Re(ifft2(y * phase)))``, i.e. the noiseless step plus
    ``sigma crop(Re(u))`` with ``u = ifft2(n * phase, norm="ortho")``. The inverse transform is
    unitary and ``|phase| = 1``, so ``E|u_i|^2 = 1`` at every pixel; since the phases of a generic
    image vary across frequencies, ``E[u_i^2] = (1/N) sum_k exp(4 pi i <i,k>/N) phase_k^2`` is
    close to 0, hence ``Var(Re u_i) = (E|u_i|^2 + Re E[u_i^2]) / 2 ~= 1/2``: the pixel noise
    has standard deviation ``sigma / sqrt(2)``. Cropping to the support does not change the
    per-pixel variance. (Verified by Monte Carlo in the tests.)

    Parameters
    ----------
    input_shape : sequence of int
        ``(*lead, H, W)``, typically ``(C, H, W)``.
    oversampling : float >= 1, default 2.0
        Ratio of the padded side to the image side.

    Examples
    --------
    >>> import torch
    >>> A = PhaseRetrieval((1, 8, 6), oversampling=2.0)
    >>> A(torch.rand(4, 1, 8, 6)).shape
    torch.Size([4, 1, 16, 12])
    """

    def __init__(self, input_shape: Sequence[int], oversampling: float = 2.0):
        shape = as_shape(input_shape, "input_shape", min_dims=2)
        over = as_float(oversampling, "oversampling", positive=True)
        if over < 1.0:
            raise ValueError(f"oversampling: expected a number >= 1 (padded side / image side), got {over}")
        super().__init__(shape, noise_gain=1.0 / math.sqrt(2.0))
        height, width = shape[-2:]
        padded_height, padded_width = round(over * height), round(over * width)
        top, left = (padded_height - height) // 2, (padded_width - width) // 2
        # F.pad order: (left, right, top, bottom) for the last two dimensions.
        self.padding = (left, padded_width - width - left, top, padded_height - height - top)
        self.oversampling = over
        self._output_shape = (*shape[:-2], padded_height, padded_width)

    def _spectrum(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_shape(x)
        return torch.fft.fft2(F.pad(x, self.padding), norm="ortho")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fourier magnitudes: ``(*batch, *lead, H, W) -> (*batch, *lead, Hp, Wp)``, non-negative."""
        return self._spectrum(x).abs()

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One error-reduction step towards ``{A(x) = y}`` (not idempotent; see the class docstring).

        The phase of ``fft2(pad(x))`` is kept (taken as 1 where the coefficient is 0) and its
        magnitude replaced by ``y`` (used as given, even where noise made it negative).
        """
        check_trailing(y, self.output_shape, "y")
        spectrum = self._spectrum(x)
        magnitude = spectrum.abs()
        nonzero = magnitude > 0
        phase = torch.where(nonzero, spectrum / torch.where(nonzero, magnitude, torch.ones_like(magnitude)),
                            torch.ones_like(spectrum))
        image = torch.fft.ifft2(y * phase, norm="ortho").real
        left, _, top, _ = self.padding
        height, width = self.input_shape[-2:]
        return image[..., top: top + height, left: left + width]

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, oversampling={self.oversampling:g}"
