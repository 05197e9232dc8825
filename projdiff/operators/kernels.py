"""Blur kernels: Gaussian, straight-line motion, and kernels loaded from disk. All sum to 1."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from projdiff.operators._common import as_float, as_int, check_generator


def normalize_kernel(kernel, name: str = "kernel") -> torch.Tensor:
    """A 2D non-negative kernel divided by its sum, as a float32 tensor of shape ``(kh, kw)``."""
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float64))
    if k.dim() != 2:
        raise ValueError(f"{name}: expected a 2D kernel (kh, kw), got shape {tuple(k.shape)}")
    if not bool(torch.isfinite(k).all()):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    if bool((k < 0).any()):
        raise ValueError(f"{name}: expected non-negative values, got a minimum of {float(k.min()):g}")
    total = float(k.sum())
    if total <= 0:
        raise ValueError(f"{name}: expected a kernel with positive sum, got all zeros")
    return (k / total).to(torch.float32)


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Isotropic Gaussian kernel ``exp(-r^2 / (2 sigma^2))`` sampled at pixel centres, summing to 1.

    Parameters
    ----------
    sigma : float > 0
        Standard deviation in pixels.
    size : odd int >= 1, optional
        Side length in pixels. Default ``2 * ceil(3 sigma) + 1``.

    Returns
    -------
    tensor of shape (size, size), float32, centred on pixel ``(size // 2, size // 2)``.
    """
    sigma = as_float(sigma, "sigma", positive=True)
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else as_int(size, "size", minimum=1)
    if size % 2 == 0:
        raise ValueError(f"size: expected an odd int >= 1 (so the kernel has a centre pixel), got {size}")
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return normalize_kernel(g[:, None] * g[None, :])


def motion_kernel(size: int, *, generator: torch.Generator | None = None, length: float | None = None,
                  angle: float | None = None) -> torch.Tensor:
    """Straight-line motion blur: a segment through the kernel centre, rasterised and summing to 1.

    The segment has length ``length`` (pixels) and direction ``angle`` (degrees, counter-clockwise
    from the positive column axis, rows pointing down). It is sampled at 0.1 pixel spacing and each
    sample is splatted onto the grid with bilinear weights.

    Random draws (only for the arguments left as ``None``, from ``generator``): the angle uniform
    in ``[0, 180)`` degrees, then the length uniform in ``[1, size - 1]`` pixels.

    Parameters
    ----------
    size : odd int >= 3
        Side length of the kernel in pixels; the centre is pixel ``(size // 2, size // 2)``.
    generator : torch.Generator, optional
    length : float in [0, size - 1], optional
        Segment length in pixels (0 gives a delta kernel).
    angle : float, optional
        Direction in degrees.

    Returns
    -------
    tensor of shape (size, size), float32, non-negative, summing to 1.
    """
    size = as_int(size, "size", minimum=3)
    if size % 2 == 0:
        raise ValueError(f"size: expected an odd int >= 3 (so the kernel has a centre pixel), got {size}")
    check_generator(generator)
    if angle is None:
        angle = 180.0 * float(torch.rand((), generator=generator, dtype=torch.float64))
    angle = as_float(angle, "angle")
    if length is None:
        length = 1.0 + (size - 2) * float(torch.rand((), generator=generator, dtype=torch.float64))
    length = as_float(length, "length")
    if not 0.0 <= length <= size - 1:
        raise ValueError(f"length: expected a number in [0, {size - 1}] for size {size}, got {length}")
    samples = max(2, math.ceil(length / 0.1) + 1)
    t = np.linspace(-length / 2, length / 2, samples)
    theta = math.radians(angle)
    centre = size // 2
    cols, rows = centre + t * math.cos(theta), centre - t * math.sin(theta)
    c0, r0 = np.floor(cols).astype(np.int64), np.floor(rows).astype(np.int64)
    fc, fr = cols - c0, rows - r0
    kernel = np.zeros((size + 1, size + 1))  # one spare row/column for the far bilinear neighbours
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        np.add.at(kernel, (r0 + dr, c0 + dc), w)
    return normalize_kernel(kernel[:size, :size])


def load_kernel(path: str | Path) -> torch.Tensor:
    """Read a blur kernel from a ``.npy`` file or a grayscale image, normalised to sum 1.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (a 2D array) or any image PIL reads (converted to grayscale intensities).

    Returns
    -------
    tensor of shape (kh, kw), float32, summing to 1.

    Raises
    ------
    ValueError
        If the kernel is not 2D, has negative or non-finite values, or is all zeros.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: expected an existing .npy or image file, got {str(path)!r}")
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        from PIL import Image

        with Image.open(path) as image:
            array = np.asarray(image.convert("F"), dtype=np.float64)
    return normalize_kernel(array, name=f"kernel in {path.name}")
