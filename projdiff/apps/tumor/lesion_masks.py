"""Lesion masks: deformed ellipsoids with sizes in millimetres, placed inside an organ.

A lesion of radius r (mm) gets three semi-axes r * U(0.75, 1.25), a uniformly random
orientation and a smooth surface deformation (roughness 0.15, correlation 0.6 x the smallest
semi-axis; see ``projdiff.apps.tumor.ct.shapes``). Its centre is drawn uniformly among the organ voxels
that lie at least r mm inside the organ (the organ eroded by the radius, measured with the voxel
spacing) and, when possible, at least the sum of radii away from the lesions already placed. If
no voxel qualifies, the erosion is relaxed to 0.75 r, then 0.5 r; after that ValueError says how
deep the organ is. The mask is finally clipped to the organ. Seeded and deterministic.

Sizes are radii. Size classes (mm): tiny 3-5, small 6-10, medium 12-20, large 24-40. For
classifying a measured lesion (``size_class_of``) the class limits are the midpoints of the gaps:
5.5, 11 and 22 mm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.ct.shapes import deformed_ellipsoid, random_rotation

SIZE_CLASSES: dict[str, tuple[float, float]] = {"tiny": (3.0, 5.0), "small": (6.0, 10.0), "medium": (12.0, 20.0),
                                                "large": (24.0, 40.0)}
CLASS_LIMITS_MM: tuple[tuple[str, float], ...] = (("tiny", 5.5), ("small", 11.0), ("medium", 22.0), ("large", np.inf))
EROSION_FRACTIONS = (1.0, 0.75, 0.5)
AXIS_JITTER = (0.75, 1.25)


def parse_size(text: str) -> tuple[float, float]:
    """A radius range in mm from ``'10-20mm'``, ``'10-20'``, ``'12mm'``, ``'12'`` or a class name.

    Raises ValueError naming ``--size`` for anything else (zero, reversed ranges, other units).
    """
    key = text.strip().lower()
    if key in SIZE_CLASSES:
        return SIZE_CLASSES[key]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*(?:mm)?", key)
    if match is None:
        raise ValueError(f"--size: expected a radius range in mm such as 10-20mm, 12mm, or one of "
                         f"{', '.join(SIZE_CLASSES)}; got {text!r}")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    if not 0 < low <= high:
        raise ValueError(f"--size: expected 0 < low <= high, got {text!r}")
    return low, high


def size_class_of(radius_mm: float) -> str:
    """The size class of a lesion with (equivalent-sphere) radius ``radius_mm``."""
    return next(name for name, limit in CLASS_LIMITS_MM if radius_mm <= limit)


@dataclass(eq=False)
class LesionMask:
    """One placed lesion.

    Attributes
    ----------
    mask : ndarray of bool, shape (D, H, W)
        The lesion, clipped to the organ.
    centre : tuple of 3 ints
        Centre voxel (d, h, w), inside the organ.
    radius_mm : float
        Drawn radius; ``semi_axes_mm`` are the three semi-axes before the deformation.
    erosion_mm : float
        How deep inside the organ the centre had to be (less than the radius after a fallback).
    seed : int
        Seed of this lesion's generator.
    """

    mask: np.ndarray
    centre: tuple[int, int, int]
    radius_mm: float
    semi_axes_mm: tuple[float, float, float]
    erosion_mm: float
    seed: int

    @property
    def size_class(self) -> str:
        return size_class_of(self.radius_mm)


def _candidates(depth: np.ndarray, placed: list[LesionMask], spacing, radius: float, fraction: float,
                apart: bool) -> np.ndarray:
    """Flat indices of the voxels at least ``fraction * radius`` mm inside the organ (and, if
    ``apart``, at least r + r_i mm from each placed centre)."""
    ok = depth >= fraction * radius
    if apart and placed:
        coords = np.indices(depth.shape, sparse=True)
        for lesion in placed:
            distance2 = sum(((c - x) * s) ** 2 for c, x, s in zip(coords, lesion.centre, spacing))
            ok &= distance2 >= (radius + lesion.radius_mm) ** 2
    return np.flatnonzero(ok)


def sample_lesion_masks(organ: np.ndarray, spacing: tuple[float, float, float], count: int,
                        size_mm: tuple[float, float], seeds: list[int], organ_name: str = "organ") -> list[LesionMask]:
    """Place ``count`` lesions inside ``organ``.

    Parameters
    ----------
    organ : ndarray of bool, shape (D, H, W)
    spacing : tuple of 3 floats
        Voxel size along (D, H, W), mm.
    count : int
        Number of lesions (>= 1).
    size_mm : (float, float)
        Radius range in mm; each lesion draws its radius uniformly from it.
    seeds : list of int
        One seed per lesion (e.g. ``derive_seed("lesion", seed, case, k)``).
    organ_name : str
        For error messages.

    Raises
    ------
    ValueError
        Empty organ, or no centre at least half a radius inside the organ.
    """
    if count < 1 or len(seeds) != count:
        raise ValueError(f"lesions: expected count >= 1 and one seed per lesion, got {count} and {len(seeds)} seeds")
    if not organ.any():
        raise ValueError(f"lesions: organ {organ_name!r} is empty")
    depth = ndimage.distance_transform_edt(organ, sampling=spacing)
    placed: list[LesionMask] = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        radius = float(rng.uniform(*size_mm))
        semi_axes = tuple(float(a) for a in radius * rng.uniform(*AXIS_JITTER, size=3))
        for fraction, apart in [(f, a) for a in (True, False) for f in EROSION_FRACTIONS]:
            candidates = _candidates(depth, placed, spacing, radius, fraction, apart)
            if candidates.size:
                break
        else:
            raise ValueError(f"lesions: organ {organ_name!r} is too small for a lesion of radius {radius:.1f} mm: "
                             f"no voxel lies {EROSION_FRACTIONS[-1] * radius:.1f} mm inside it (deepest "
                             f"{depth.max():.1f} mm); use a smaller --size")
        centre = tuple(int(v) for v in np.unravel_index(candidates[rng.integers(candidates.size)], organ.shape))
        mask = deformed_ellipsoid(organ.shape, spacing, centre, semi_axes, rng, rotation=random_rotation(rng))
        placed.append(LesionMask(mask & organ, centre, radius, semi_axes, fraction * radius, seed))
    return placed
