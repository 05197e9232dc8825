"""A volume in memory: the canonical (D, H, W) array, its on-disk grid and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from projdiff.apps.tumor.ct.grid import Grid


@dataclass(eq=False)
class Volume:
    """A 3D volume in the canonical layout (see ``projdiff.apps.tumor.ct.grid``).

    Parameters
    ----------
    array : ndarray, shape (D, H, W)
        Voxel values: HU (float32) for a CT, integer codes for a label map.
    grid : Grid
        The on-disk geometry the array came from, and that outputs are written in.
    source : str
        File or folder it was read from (for error messages and sidecars).
    header : nibabel.Nifti1Header or None
        The input's NIfTI header, reused when writing outputs (None for DICOM and phantoms).
    """

    array: np.ndarray
    grid: Grid
    source: str
    header: Any = None

    def __post_init__(self) -> None:
        if tuple(self.array.shape) != self.grid.canonical_shape:
            raise ValueError(f"{self.source}: array shape {self.array.shape} does not match the grid "
                             f"{self.grid.canonical_shape}")

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along (D, H, W) in mm."""
        return self.grid.spacing


def require_3d(volume: Volume) -> None:
    """Raise ValueError if ``volume`` is a single slice (an on-disk axis of size 1)."""
    if min(volume.grid.shape) < 2:
        raise ValueError(f"{volume.source}: expected a 3D volume, got a 2D image of shape {volume.grid.shape}; "
                         "lesion synthesis needs several slices")
