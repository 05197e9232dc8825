"""Crops of volumes: padded crops, and resampling a crop between voxel spacings.

``crop_padded`` cuts a box that may reach beyond the volume (the outside repeats the edge, or is a
fill value). Learned lesion models (the lesion prior, the tumor judge) work at the voxel spacing they were
trained at; a crop of a CT with other voxels is resampled to that spacing and back. Voxels are
treated as areas (``scipy.ndimage.zoom`` with ``grid_mode=True``), so the crop's outer edges map
onto each other and a round trip keeps the crop's extent in mm.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

SAME_SPACING_RTOL = 0.01


def same_spacing(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when the spacings agree within 1 % on every axis (no resampling needed)."""
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=SAME_SPACING_RTOL, atol=0.0))


def shape_at(shape: Sequence[int], spacing: Sequence[float], target: Sequence[float]) -> tuple[int, ...]:
    """The shape of a crop of ``shape`` voxels of ``spacing`` mm resampled to ``target`` mm (at least 1)."""
    return tuple(max(int(round(n * s / t)), 1) for n, s, t in zip(shape, spacing, target))


def resample(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``array`` (D, H, W) linearly resampled to ``shape`` (float32; the same array if the shape is equal).

    Masks are resampled as floats; threshold the result (e.g. ``> 0.5``) to get a mask back.
    """
    shape = tuple(int(n) for n in shape)
    values = np.asarray(array, np.float32)
    if values.shape == shape:
        return values
    factors = [n / m for n, m in zip(shape, values.shape)]
    return ndimage.zoom(values, factors, order=1, mode="nearest", grid_mode=True)


def crop_padded(array: np.ndarray, start: Sequence[int], shape: Sequence[int], fill=None) -> np.ndarray:
    """``array[start : start + shape]`` (3D); parts outside ``array`` repeat its edge, or are ``fill``."""
    inside = tuple(slice(max(s, 0), min(s + n, dim)) for s, n, dim in zip(start, shape, array.shape))
    pad = [(max(-s, 0), max(s + n - dim, 0)) for s, n, dim in zip(start, shape, array.shape)]
    if fill is None:
        return np.pad(array[inside], pad, mode="edge")
    return np.pad(array[inside], pad, mode="constant", constant_values=fill)
