"""How a lesion stands out from the organ around it: contrast and texture in HU.

``lesion_statistics`` measures, on a (D, H, W) HU volume (or crop), the lesion's mean HU, the mean HU
of the organ in a ring around it (organ voxels outside the lesion within ``ring_mm``, default 5 mm),
their difference (``contrast_hu``: negative = hypodense) and the HU standard deviation inside the
lesion (``texture_hu``) and inside its core, the voxels more than ``CORE_MM`` (2 mm) inside its edge
(``core_texture_hu``, the whole lesion when it has no core: the blended edge's ramp does not count as
texture), beside that of the ring (``ring_texture_hu``, the organ's own texture and noise).
The sidecars of ``projdiff tumor`` and the realism benchmarks report these numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.lesion_backend import lesion_box

RING_MM = 5.0
CORE_MM = 2.0
KEYS = ("lesion_hu", "organ_hu", "contrast_hu", "texture_hu", "core_texture_hu", "ring_texture_hu")


def lesion_core(lesion: np.ndarray, spacing: Sequence[float], core_mm: float = CORE_MM) -> np.ndarray:
    """The voxels of ``lesion`` (bool) more than ``core_mm`` from its edge; all of them when none is."""
    core = ndimage.distance_transform_edt(lesion, sampling=spacing) > core_mm
    return core if core.any() else lesion


def ring_box(lesion: np.ndarray, spacing: Sequence[float], ring_mm: float = RING_MM) -> tuple[slice, ...]:
    """The bounding box of ``lesion`` grown by ``ring_mm`` (and a voxel): it holds the lesion and its ring."""
    return lesion_box(lesion, [int(np.ceil(ring_mm / s)) + 1 for s in spacing])


def organ_ring(lesion: np.ndarray, organ: np.ndarray, spacing: Sequence[float], ring_mm: float = RING_MM) -> np.ndarray:
    """The voxels of ``organ`` outside ``lesion`` within ``ring_mm`` of it (bool masks of one shape)."""
    return (ndimage.distance_transform_edt(~lesion, sampling=spacing) <= ring_mm) & organ & ~lesion


def lesion_statistics(hu: np.ndarray, lesion: np.ndarray, organ: np.ndarray, spacing: Sequence[float],
                      ring_mm: float = RING_MM) -> dict:
    """``{"lesion_hu", "organ_hu", "contrast_hu", "texture_hu", "core_texture_hu", "ring_texture_hu"}`` (floats, HU).

    The organ values are NaN when no organ voxel lies within ``ring_mm`` of the lesion; all are NaN
    for an empty lesion.
    """
    lesion = lesion.astype(bool)
    if not lesion.any():
        return dict.fromkeys(KEYS, float("nan"))
    box = ring_box(lesion, spacing, ring_mm)
    lesion, organ, hu = lesion[box], organ[box].astype(bool), np.asarray(hu[box], np.float64)
    ring = organ_ring(lesion, organ, spacing, ring_mm)
    inside = hu[lesion]
    organ_hu = float(hu[ring].mean()) if ring.any() else float("nan")
    return {"lesion_hu": float(inside.mean()), "organ_hu": organ_hu, "contrast_hu": float(inside.mean()) - organ_hu,
            "texture_hu": float(inside.std()), "core_texture_hu": float(hu[lesion_core(lesion, spacing)].std()),
            "ring_texture_hu": float(hu[ring].std()) if ring.any() else float("nan")}

