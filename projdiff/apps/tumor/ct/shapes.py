"""Smooth random 3D shapes in millimetres: noise fields and deformed ellipsoids.

Used by the phantom (organs), the lesion masks and the realistic lesion generator. All sizes are
in mm and converted with the voxel spacing, so a shape looks the same on any grid. Randomness
comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np


def _bspline_weights(count: int, step_mm: float, scale_mm: float) -> np.ndarray:
    """(count, lattice) cubic B-spline weights of ``count`` samples ``step_mm`` apart on a lattice
    with knots ``scale_mm`` apart; rows have unit L2 norm (so the field has unit variance)."""
    positions = np.arange(count) * step_mm / scale_mm + 1.0
    lattice = int(np.ceil(positions[-1])) + 3
    t = np.abs(positions[:, None] - np.arange(lattice)[None, :])
    weights = np.where(t < 1, (4 - 6 * t ** 2 + 3 * t ** 3) / 6, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))
    return weights / np.linalg.norm(weights, axis=1, keepdims=True)


def smooth_noise(shape: tuple[int, int, int], spacing: tuple[float, float, float], scale_mm: float,
                 rng: np.random.Generator) -> np.ndarray:
    """A smooth Gaussian random field of unit variance, correlated over about ``scale_mm``.

    Standard normal values on a lattice with knots ``scale_mm`` apart, interpolated by cubic
    B-splines (twice differentiable). Returns float32 of ``shape``.
    """
    if scale_mm <= 0:
        raise ValueError(f"smooth_noise: scale_mm must be positive, got {scale_mm}")
    weights = [_bspline_weights(n, s, scale_mm) for n, s in zip(shape, spacing)]
    field = rng.standard_normal(tuple(w.shape[1] for w in weights))
    for axis, w in enumerate(weights):
        field = np.moveaxis(np.tensordot(w, field, axes=([1], [axis])), 0, axis)
    return field.astype(np.float32)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed 3x3 rotation matrix."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def rotation_in_plane(angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians in the (H, W) plane, i.e. about the D (slice) axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def deformed_ellipsoid(shape: tuple[int, int, int], spacing: tuple[float, float, float], centre, semi_axes_mm,
                       rng: np.random.Generator, rotation: np.ndarray | None = None, roughness: float = 0.15,
                       scale_mm: float | None = None) -> np.ndarray:
    """A voxelised ellipsoid whose surface is pushed in and out by a smooth random field.

    A voxel at offset x (mm) from the centre is inside when ``|R^T x / a| <= 1 + roughness * n(x)``,
    with ``a`` the semi-axes, ``R`` the rotation and ``n`` a unit-variance ``smooth_noise`` field
    (clipped to +-2.5) correlated over ``scale_mm``.

    Parameters
    ----------
    shape, spacing : tuple of 3
        Volume shape (D, H, W) and voxel size in mm.
    centre : sequence of 3 floats
        Centre in voxel coordinates (d, h, w); may lie outside the volume.
    semi_axes_mm : sequence of 3 floats
        Semi-axes along the rotated D, H, W axes, mm.
    rng : numpy.random.Generator
    rotation : ndarray (3, 3), optional
        Columns = the ellipsoid's axes in (d, h, w) mm coordinates; default identity.
    roughness : float
        Relative amplitude of the surface deformation (default 0.15; 0 = exact ellipsoid).
    scale_mm : float, optional
        Correlation length of the deformation (default 0.6 x the smallest semi-axis).

    Returns
    -------
    ndarray of bool, shape ``shape``
    """
    spacing = np.asarray(spacing, float)
    axes = np.asarray(semi_axes_mm, float)
    centre = np.asarray(centre, float)
    if axes.shape != (3,) or (axes <= 0).any():
        raise ValueError(f"ellipsoid: expected 3 positive semi-axes in mm, got {semi_axes_mm}")
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, float)
    reach = axes.max() * (1.0 + 2.5 * roughness)
    low = np.maximum(np.floor(centre - reach / spacing).astype(int), 0)
    high = np.minimum(np.ceil(centre + reach / spacing).astype(int) + 1, shape)
    mask = np.zeros(shape, bool)
    if (high <= low).any():
        return mask
    offsets = [(np.arange(lo, hi) - c) * s for lo, hi, c, s in zip(low, high, centre, spacing)]
    grids = np.meshgrid(*offsets, indexing="ij", sparse=True)
    radius = sum((sum(grids[j] * rotation[j, k] for j in range(3)) / axes[k]) ** 2 for k in range(3)) ** 0.5
    if roughness > 0:
        box = tuple(int(v) for v in high - low)
        noise = np.clip(smooth_noise(box, tuple(spacing), scale_mm or 0.6 * axes.min(), rng), -2.5, 2.5)
        radius = radius - roughness * noise
    mask[tuple(slice(lo, hi) for lo, hi in zip(low, high))] = radius <= 1.0
    return mask
