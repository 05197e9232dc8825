"""Voxel grids: where a volume's voxels lie in the world, and the one canonical array layout.

On disk a volume is an (I, J, K) array plus a 4x4 affine that maps a voxel index (i, j, k, 1) to
world coordinates in millimetres, RAS+ (x toward the patient's right, y anterior, z superior), as
in NIfTI. Scanners and converters store the axes in any order and direction (LPS, RAS, PIR, ...).

In memory every volume uses one canonical layout, (D, H, W) with axes pointing
(S, P, L): D runs inferior -> superior (axial slices), H anterior -> posterior and W the
patient's right -> left. So ``volume[d]`` is an axial slice in the radiological display convention
(anterior at the top, the patient's right on the left of the image), whatever the file's order.
Going to and from the canonical layout only permutes and flips axes (the closest canonical axes,
as ``nibabel.io_orientation`` picks them for oblique grids): no resampling, so the round trip is
exact and outputs are written in the input's grid and orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nibabel.orientations import (aff2axcodes, apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation,
                                  ornt_transform)

CANONICAL_AXES = ("S", "P", "L")


@dataclass(frozen=True, eq=False)
class Grid:
    """The on-disk geometry of a 3D volume.

    Parameters
    ----------
    shape : tuple of 3 ints
        The on-disk array shape (I, J, K).
    affine : ndarray, shape (4, 4)
        Voxel index (i, j, k, 1) -> world (x, y, z, 1), RAS+ millimetres.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"grid: expected a 3D shape of positive sizes, got {self.shape}")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError("grid: expected a finite, invertible 4x4 affine")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "affine", affine)

    @property
    def axcodes(self) -> tuple[str, str, str]:
        """The directions the on-disk axes point to, e.g. ``('L', 'P', 'S')``."""
        return tuple(aff2axcodes(self.affine))

    @property
    def _to_canonical(self) -> np.ndarray:
        return ornt_transform(io_orientation(self.affine), axcodes2ornt(CANONICAL_AXES))

    @property
    def canonical_shape(self) -> tuple[int, int, int]:
        """(D, H, W) of the canonical array."""
        return tuple(int(self.shape[int(axis)]) for axis in np.argsort(self._to_canonical[:, 0]))

    @property
    def canonical_affine(self) -> np.ndarray:
        """Canonical index (d, h, w, 1) -> world (x, y, z, 1), RAS+ mm; shape (4, 4)."""
        return self.affine @ inv_ornt_aff(self._to_canonical, self.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along (D, H, W) in mm."""
        return tuple(float(v) for v in np.linalg.norm(self.canonical_affine[:3, :3], axis=0))

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        """On-disk (I, J, K) array -> canonical (D, H, W) array (a contiguous copy)."""
        if tuple(array.shape) != self.shape:
            raise ValueError(f"grid: expected an array of shape {self.shape}, got {tuple(array.shape)}")
        return np.ascontiguousarray(apply_orientation(array, self._to_canonical))

    def from_canonical(self, array: np.ndarray) -> np.ndarray:
        """Canonical (D, H, W) array -> on-disk (I, J, K) array (a contiguous copy)."""
        if tuple(array.shape) != self.canonical_shape:
            raise ValueError(f"grid: expected an array of shape {self.canonical_shape}, got {tuple(array.shape)}")
        back = ornt_transform(axcodes2ornt(CANONICAL_AXES), io_orientation(self.affine))
        return np.ascontiguousarray(apply_orientation(array, back))

    def disk_index(self, dhw) -> tuple[int, int, int]:
        """The on-disk index (i, j, k) of the canonical voxel (d, h, w)."""
        ijk = np.linalg.solve(self.affine, self.canonical_affine @ np.append(np.asarray(dhw, float), 1.0))
        return tuple(int(v) for v in np.rint(ijk[:3]))

    def world(self, dhw) -> tuple[float, float, float]:
        """World coordinates (x, y, z) in RAS+ mm of the canonical voxel (d, h, w)."""
        return tuple(float(v) for v in (self.canonical_affine @ np.append(np.asarray(dhw, float), 1.0))[:3])

    def same_as(self, other: "Grid", atol_mm: float = 1e-3) -> bool:
        """Same shape and affines equal within ``atol_mm`` (default 0.001 mm)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol_mm, rtol=0))


def grid_for(canonical_shape: tuple[int, int, int], canonical_affine: np.ndarray,
             axcodes: tuple[str, str, str] = ("R", "A", "S")) -> Grid:
    """The grid that stores a canonical (D, H, W) volume on disk with axes pointing ``axcodes``.

    Parameters
    ----------
    canonical_shape : tuple of 3 ints
        (D, H, W).
    canonical_affine : ndarray, shape (4, 4)
        Canonical index (d, h, w, 1) -> world RAS+ mm; its axes must point (S, P, L).
    axcodes : tuple of 3 str
        Directions of the on-disk axes (default RAS, nibabel's canonical).
    """
    canonical_affine = np.asarray(canonical_affine, dtype=np.float64)
    if tuple(aff2axcodes(canonical_affine)) != CANONICAL_AXES:
        raise ValueError(f"grid: canonical_affine must point {CANONICAL_AXES}, got {aff2axcodes(canonical_affine)}")
    to_disk = ornt_transform(axcodes2ornt(CANONICAL_AXES), axcodes2ornt(tuple(axcodes)))
    shape = tuple(int(canonical_shape[int(axis)]) for axis in np.argsort(to_disk[:, 0]))
    return Grid(shape, canonical_affine @ inv_ornt_aff(to_disk, canonical_shape))
