"""NIfTI files (``.nii``, ``.nii.gz``) in and out through nibabel, geometry kept exactly.

Reading gives a ``Volume`` in the canonical (D, H, W) layout with the file's grid; writing turns
the canonical array back into the file's axis order and stores the same affine (and the input's
header when there is one), so outputs open in any viewer exactly on top of the input.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

from projdiff.apps.tumor.ct.grid import Grid
from projdiff.apps.tumor.ct.volume import Volume
from projdiff.utils.files import write_bytes

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def read_nifti(path: str | Path, labels: bool = False) -> Volume:
    """Read a 3D NIfTI file.

    Parameters
    ----------
    path : str or Path
    labels : bool
        False (default): intensities (scaling applied), float32. True: a label map; every value must
        be a whole number; returned as int32 (codes of the file, not yet mapped to a label space).

    Returns
    -------
    Volume
        ``array`` (D, H, W) canonical; 2D files get a third axis of size 1.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, unreadable, corrupt, non-3D (4D with several volumes) or non-integer label files;
        the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if not is_nifti(path):
        raise ValueError(f"{path}: expected a NIfTI file (.nii or .nii.gz)")
    try:
        image = nib.load(path)
        if isinstance(image, nib.Nifti1Image):  # NIfTI-1 or -2; nibabel also loads CIFTI-2 from .nii
            data = np.asanyarray(image.dataobj)
            affine = image.affine
    except Exception as exc:  # nibabel and gzip raise many types for corrupt files
        raise ValueError(f"{path}: cannot read NIfTI ({type(exc).__name__}: {exc})") from None
    if not isinstance(image, nib.Nifti1Image):
        raise ValueError(f"{path}: expected a NIfTI volume, got a {type(image).__name__} file (no voxel grid)")
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3D volume, got shape {data.shape}")
    if labels:
        if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
            raise ValueError(f"{path}: a label map must hold whole numbers")
        data = data.astype(np.int32)
    else:
        data = data.astype(np.float32)
    grid = Grid(data.shape, affine)
    return Volume(grid.to_canonical(data), grid, str(path), image.header)


def write_nifti(path: str | Path, array: np.ndarray, grid: Grid, dtype: type = np.int16, header=None) -> None:
    """Write a canonical (D, H, W) array atomically in ``grid``'s axis order and affine.

    Parameters
    ----------
    path : str or Path
        ``.nii`` or ``.nii.gz`` (gzip without a time stamp, so equal inputs give equal bytes).
    array : ndarray, shape (D, H, W)
        Values already in ``dtype``'s range (e.g. HU int16, label codes uint8).
    grid : Grid
        Target geometry.
    dtype : numpy dtype
        On-disk type (default int16); no scaling (slope 1, intercept 0).
    header : nibabel.Nifti1Header, optional
        Copied (units, codes, description); shape, type, scaling and affine are set here.
    """
    path = Path(path)
    if not is_nifti(path):
        raise ValueError(f"{path}: output must end in .nii or .nii.gz")
    data = grid.from_canonical(np.asarray(array)).astype(dtype)
    image = nib.Nifti1Image(data, grid.affine, header=None if header is None else header.copy())
    image.set_data_dtype(dtype)
    image.header.set_slope_inter(1.0, 0.0)
    raw = image.to_bytes()
    write_bytes(path, gzip.compress(raw, mtime=0) if path.name.lower().endswith(".gz") else raw)
