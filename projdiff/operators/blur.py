"""Deblurring: circular convolution with a known kernel, diagonalised by the 2D FFT."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from projdiff.operators._common import as_float, as_real_tensor, as_shape, check_trailing, frobenius_noise_gain
from projdiff.operators.base import LinearOperator, Spectral
from projdiff.operators.kernels import gaussian_kernel, load_kernel, motion_kernel

__all__ = ["Blur", "gaussian_kernel", "load_kernel", "motion_kernel"]  # kernel helpers live in kernels.py


def _ortho_fft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fft2(x, norm="ortho")


def _ortho_ifft_real(z: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifft2(z, norm="ortho").real


class Blur(LinearOperator):
    """Circular convolution ``y[i] = sum_u k[u] x[i - u]`` over the last two dims (indices mod H, W).

    The offset ``u`` is measured from the kernel's centre pixel ``(kh // 2, kw // 2)``, so a
    symmetric kernel does not shift the image (this equals ``scipy.ndimage.convolve(x, k,
    mode="wrap")``). The operator is diagonal in the 2D Fourier basis with eigenvalues
    ``K_hat = fft2(centred, zero-padded kernel)`` (unnormalised), so its singular values are
    ``|K_hat|``. Modes with ``|K_hat| < tol * max |K_hat|`` are treated as zero by ``pinv``,
    ``project`` and ``spectral()`` (a truncated SVD); ``forward`` and ``adjoint`` are exact.

    Parameters
    ----------
    kernel : tensor or array of shape (kh, kw) or (C, kh, kw)
        One kernel for every channel, or one per channel (``C = input_shape[-3]``). Not
        normalised here (see ``gaussian_kernel``, ``motion_kernel``, ``load_kernel``).
    input_shape : sequence of int
        ``(*lead, H, W)``, typically ``(C, H, W)``; ``kh <= H`` and ``kw <= W``.
    tol : float in [0, 1), default 1e-3
        Relative truncation threshold on the singular values.

    Examples
    --------
    >>> from projdiff.operators import Blur, gaussian_kernel
    >>> A = Blur(gaussian_kernel(1.0), (3, 32, 32))
    >>> A.output_shape
    (3, 32, 32)
    """

    def __init__(self, kernel, input_shape: Sequence[int], *, tol: float = 1e-3):
        shape = as_shape(input_shape, "input_shape", min_dims=2)
        k = as_real_tensor(kernel, "kernel").double()
        if k.dim() not in (2, 3) or (k.dim() == 3 and (len(shape) < 3 or k.shape[0] != shape[-3])):
            channels = f"C = {shape[-3]}" if len(shape) >= 3 else "no channel dim in input_shape"
            raise ValueError(f"kernel: expected shape (kh, kw) or (C, kh, kw) with {channels}, got {tuple(k.shape)}")
        (height, width), (kh, kw) = shape[-2:], k.shape[-2:]
        if kh > height or kw > width:
            raise ValueError(f"kernel: expected a kernel no larger than the image ({height}, {width}), "
                             f"got ({kh}, {kw})")
        tol = as_float(tol, "tol")
        if not 0.0 <= tol < 1.0:
            raise ValueError(f"tol: expected a number in [0, 1), got {tol}")
        super().__init__(input_shape=shape)
        padded = torch.zeros(*k.shape[:-2], height, width, dtype=torch.float64)
        padded[..., :kh, :kw] = k
        k_hat = torch.fft.fft2(torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1)))
        dtype = torch.get_default_dtype()
        self.register_buffer("k_hat_real", k_hat.real.to(dtype))
        self.register_buffer("k_hat_imag", k_hat.imag.to(dtype))
        self.tol = tol
        self.kernel_shape = (kh, kw)
        self._output_shape = shape

    # -- spectrum -----------------------------------------------------------------------------------
    def _k_hat(self, like: torch.Tensor) -> torch.Tensor:
        dtype = like.real.dtype
        return torch.complex(self.k_hat_real.to(like.device, dtype), self.k_hat_imag.to(like.device, dtype))

    def _kept(self, k_hat: torch.Tensor) -> torch.Tensor:
        magnitude = k_hat.abs()
        return (magnitude > 0) & (magnitude >= self.tol * magnitude.max())

    # -- operator -----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``k (*) x`` (circular): shape ``(*batch, *input_shape)`` to the same shape."""
        self.batch_shape(x)
        return torch.fft.ifft2(self._k_hat(x) * torch.fft.fft2(x)).real

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Circular correlation with the kernel: multiplication by ``conj(K_hat)``."""
        check_trailing(y, self.input_shape, "y")
        return torch.fft.ifft2(self._k_hat(y).conj() * torch.fft.fft2(y)).real

    def _inverse(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``1 / K_hat`` on the kept modes (0 elsewhere) and the kept-mode mask."""
        k_hat = self._k_hat(like)
        kept = self._kept(k_hat)
        return torch.where(kept, 1 / torch.where(kept, k_hat, torch.ones_like(k_hat)), torch.zeros_like(k_hat)), kept

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Division by ``K_hat`` on the kept modes, zero on the truncated ones."""
        check_trailing(y, self.input_shape, "y")
        inverse, _ = self._inverse(y)
        return torch.fft.ifft2(inverse * torch.fft.fft2(y)).real

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x + A^+ (y - A x)`` with three FFTs: kept modes from ``y``, the others from ``x``."""
        check_trailing(x, self.input_shape, "x")
        inverse, kept = self._inverse(x)
        return torch.fft.ifft2(torch.where(kept, inverse * torch.fft.fft2(y), torch.fft.fft2(x))).real

    def gram_solve(self, v: torch.Tensor, shift: float) -> torch.Tensor:
        """``(A A^T + shift I)^-1 v`` in the Fourier domain (truncated modes count as zero)."""
        k_hat = self._k_hat(v)
        power = torch.where(self._kept(k_hat), k_hat.abs() ** 2, torch.zeros_like(k_hat.real)) + shift
        inverse = torch.where(power > 0, 1 / torch.where(power > 0, power, torch.ones_like(power)),
                              torch.zeros_like(power))
        return torch.fft.ifft2(inverse * torch.fft.fft2(v)).real

    def spectral(self) -> Spectral:
        """``V^T = fft2(., norm="ortho")`` (complex), singular values ``|K_hat|`` truncated below ``tol * max``."""
        k_hat = self._k_hat(self.k_hat_real)
        values = torch.where(self._kept(k_hat), k_hat.abs(), torch.zeros_like(k_hat.real))
        return Spectral(_ortho_fft, _ortho_ifft_real, values.expand(self.input_shape).clone())

    def noise_gain(self) -> float:
        """Exact ``sqrt(m / trace(A^T A))`` with ``trace(A^T A) = sum |K_hat|^2`` over all channels."""
        if self._noise_gain is None:
            power = (self.k_hat_real.double() ** 2 + self.k_hat_imag.double() ** 2).expand(self.input_shape)
            self._noise_gain = frobenius_noise_gain(math.prod(self.input_shape), float(power.sum()))
        return self._noise_gain

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, kernel_shape={self.kernel_shape}, tol={self.tol:g}"
