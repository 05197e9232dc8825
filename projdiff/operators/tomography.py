"""Sparse-view computed tomography: a parallel-beam Radon transform as a precomputed sparse matrix."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Sequence

import numpy as np
import scipy.sparse
import torch

from projdiff.operators._common import as_int, check_trailing, flatten_item, frobenius_noise_gain
from projdiff.operators.base import LinearOperator

RAY_STEP = 0.5  # sampling step along each ray, in pixels


def _angles_degrees(angles) -> np.ndarray:
    if isinstance(angles, numbers.Integral) and not isinstance(angles, bool):
        count = as_int(angles, "angles", minimum=1)
        return np.arange(count) * (180.0 / count)
    try:
        values = np.asarray(angles, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"angles: expected an int >= 1 or a 1D sequence of degrees, got {angles!r}") from None
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"angles: expected an int >= 1 or a non-empty 1D sequence of finite degrees, got {angles!r}")
    return values


def radon_matrix(size: int, angles_deg: np.ndarray, detector_count: int) -> scipy.sparse.csr_matrix:
    """Ray-driven parallel-beam projector of shape ``(n_angles * n_det, size * size)``.

    Row ``a * n_det + d`` is the line integral along the ray at angle ``angles_deg[a]`` and
    detector offset ``d - (n_det - 1) / 2`` (pixels): the image, bilinearly interpolated (zero
    outside), sampled every ``RAY_STEP`` pixels along the ray, each sample weighted by the step.
    """
    centre = (size - 1) / 2
    offsets = np.arange(detector_count) - (detector_count - 1) / 2
    half = size * math.sqrt(2) / 2 + 1  # covers the square plus its bilinear margin
    steps = 2 * math.ceil(half / RAY_STEP) + 1
    t = (np.arange(steps) - (steps - 1) / 2) * RAY_STEP
    rays = np.broadcast_to(np.arange(detector_count)[:, None], (detector_count, steps))
    rows, cols, vals = [], [], []
    for a, theta in enumerate(np.deg2rad(angles_deg)):
        cos, sin = math.cos(theta), math.sin(theta)
        # Point = offset * (cos, sin) + t * (-sin, cos), with x along columns and y pointing up.
        col = centre + offsets[:, None] * cos - t[None, :] * sin
        row = centre - (offsets[:, None] * sin + t[None, :] * cos)
        c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
        fc, fr = col - c0, row - r0
        for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
            r, c = r0 + dr, c0 + dc
            keep = (r >= 0) & (r < size) & (c >= 0) & (c < size) & (w > 0)
            rows.append(rays[keep] + a * detector_count)
            cols.append(r[keep] * size + c[keep])
            vals.append(w[keep] * RAY_STEP)
    shape = (len(angles_deg) * detector_count, size * size)
    matrix = scipy.sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    return matrix.tocsr()  # sums the duplicate (ray, pixel) entries


class _SparseMatmul(torch.autograd.Function):
    """``A @ dense`` (or ``A^T @ dense``) whose backward uses the stored exact transpose.

    The CSR matrix is assembled inside ``forward`` from the operator's dense buffers, where
    ``torch.func`` transforms see plain tensors (sparse CSR tensors cannot be wrapped by them), so
    this works with autograd, ``torch.func.vjp`` and ``torch.func.jvp``.
    """

    @staticmethod
    def forward(dense: torch.Tensor, op: "SparseViewCT", transpose: bool) -> torch.Tensor:
        return op._csr(transpose, dense) @ dense

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.op, ctx.transpose = inputs[1], inputs[2]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _SparseMatmul.apply(grad.contiguous(), ctx.op, not ctx.transpose), None, None

    @staticmethod
    def jvp(ctx, tangent: torch.Tensor, *_):
        return _SparseMatmul.apply(tangent.contiguous(), ctx.op, ctx.transpose)


class SparseViewCT(LinearOperator):
    """Parallel-beam Radon transform of a 2D slice: ``(1, n, n) -> (1, n_angles, n_det)``.

    Units: pixel side 1, detector bin spacing 1 pixel, centred on the image centre; values are
    line integrals ``sum(pixel value x path length in pixels)``. At angle ``theta`` (degrees,
    counter-clockwise, x along columns, y up) detector bin ``d`` integrates along the line
    ``{p : <p, (cos theta, sin theta)> = d - (n_det - 1) / 2}``; at ``theta = 0`` the rays run along
    the columns. A constant image of value 1 gives the chord length of the square.

    The matrix is ray-driven (samples every 0.5 pixel, bilinear weights, zero outside the image),
    built once with numpy and stored in CSR form together with its exact transpose, which is the
    adjoint. ``pinv`` (and so ``project``) and ``spectral()`` are the base class's: a dense SVD of
    the matrix for images of up to 64 x 64 pixels (``DENSE_SPECTRAL_LIMIT`` entries; computed on
    first use, singular values below ``1e-6 * max`` count as zero, so noisy measurements get
    per-mode noise levels), conjugate gradients on ``A A^T`` above that size. ``A`` is rank
    deficient (rays that miss the image are zero rows, and sparse views leave near-null
    directions): there, for noisy ``y``, the system is inconsistent and CG runs all
    ``cg_max_iter`` iterations, returning an early-stopped (regularised) solution, and a noisy
    ``solve`` needs ``per_mode=False`` (one average noise level) to run.

    Parameters
    ----------
    image_size : int >= 2
        Side ``n`` of the square image.
    angles : int or sequence of float
        Number of angles evenly spaced in ``[0, 180)`` degrees, or the angles in degrees.
    detector_count : int >= 1, optional
        Number of detector bins. Default ``ceil(n sqrt(2))``, rounded up to odd so that the
        centre bin passes through the image centre.

    Examples
    --------
    >>> import torch
    >>> A = SparseViewCT(32, 10)
    >>> A(torch.ones(2, 1, 32, 32)).shape
    torch.Size([2, 1, 10, 47])
    """

    def __init__(self, image_size: int, angles: int | Sequence[float], *, detector_count: int | None = None):
        n = as_int(image_size, "image_size", minimum=2)
        degrees = _angles_degrees(angles)
        if detector_count is None:
            detector_count = math.ceil(n * math.sqrt(2))
            detector_count += 1 - detector_count % 2
        n_det = as_int(detector_count, "detector_count", minimum=1)
        super().__init__(input_shape=(1, n, n))
        forward = radon_matrix(n, degrees, n_det)
        transpose = forward.T.tocsr()
        dtype = torch.get_default_dtype()
        for name, csr in (("forward", forward), ("transpose", transpose)):
            self.register_buffer(f"{name}_crow", torch.from_numpy(csr.indptr.astype(np.int64)))
            self.register_buffer(f"{name}_col", torch.from_numpy(csr.indices.astype(np.int64)))
            self.register_buffer(f"{name}_values", torch.from_numpy(csr.data).to(dtype))
        self.angles = tuple(float(a) for a in degrees)
        self.detector_count = n_det
        self._output_shape = (1, len(degrees), n_det)
        self._frobenius_sq = float(np.square(forward.data).sum())

    def _csr(self, transpose: bool, like: torch.Tensor) -> torch.Tensor:
        """``A`` (or ``A^T``) as a sparse CSR tensor in ``like``'s dtype and device."""
        name = "transpose" if transpose else "forward"
        m, n = math.prod(self.output_shape), math.prod(self.input_shape)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(getattr(self, f"{name}_crow"), getattr(self, f"{name}_col"),
                                           getattr(self, f"{name}_values").to(like.dtype),
                                           size=(n, m) if transpose else (m, n), device=like.device)

    def _matmul(self, v: torch.Tensor, event: tuple[int, ...], out_shape: tuple[int, ...],
                transpose: bool) -> torch.Tensor:
        flat = flatten_item(v, len(event))
        lead = flat.shape[:-1]
        columns = flat.reshape(-1, flat.shape[-1]).T.contiguous()
        return _SparseMatmul.apply(columns, self, transpose).T.reshape(*lead, *out_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sinogram: ``(*batch, 1, n, n) -> (*batch, 1, n_angles, n_det)``."""
        self.batch_shape(x)
        return self._matmul(x, self.input_shape, self.output_shape, transpose=False)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Back-projection with the exact transpose: ``(*batch, 1, n_angles, n_det) -> (*batch, 1, n, n)``."""
        check_trailing(y, self.output_shape, "y")
        return self._matmul(y, self.output_shape, self.input_shape, transpose=True)

    def noise_gain(self) -> float:
        """Exact ``sqrt(m / trace(A^T A))`` from the matrix's Frobenius norm."""
        if self._noise_gain is None:
            self._noise_gain = frobenius_noise_gain(math.prod(self.output_shape), self._frobenius_sq)
        return self._noise_gain

    def extra_repr(self) -> str:
        return (f"image_size={self.input_shape[-1]}, n_angles={len(self.angles)}, "
                f"detector_count={self.detector_count}")
