"""DICOM CT in: one file (a single slice) or a folder holding one series, through pydicom.

Hounsfield units are ``stored value * RescaleSlope + RescaleIntercept`` per slice. Geometry comes
from ImagePositionPatient, ImageOrientationPatient and PixelSpacing: the on-disk axes are
(i = column, j = row, k = slice in order along the slice normal), the affine maps them to DICOM's
LPS+ patient coordinates, then x and y are negated to give RAS+ as in NIfTI. A single file gets a
slice step along the normal of SpacingBetweenSlices, else SliceThickness, else 1 mm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from projdiff.apps.tumor.ct.grid import Grid
from projdiff.apps.tumor.ct.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
GEOMETRY_TAGS = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
ENHANCED = {"1.2.840.10008.5.1.4.1.1.2.1": "an enhanced multi-frame CT",
            "1.2.840.10008.5.1.4.1.1.2.2": "a legacy converted enhanced CT",
            "1.2.840.10008.5.1.4.1.1.66.4": "a DICOM SEG segmentation"}


def _kind_problem(dataset) -> str | None:
    """Why a DICOM file is not one slice of a classic CT image series (None when it is)."""
    sop = str(dataset.get("SOPClassUID", ""))
    if sop in ENHANCED:
        return ENHANCED[sop]
    modality = str(dataset.get("Modality", "CT") or "CT")
    if modality != "CT":
        return f"a DICOM {modality} object, not CT"
    frames = dataset.get("NumberOfFrames")
    if frames is not None and int(frames or 1) > 1:
        return f"a multi-frame file ({int(frames)} frames)"
    return None


def _read(path: Path, pixels: bool = True):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with open(path, "rb") as f:  # opened by Python: names that are not UTF-8 work
            dataset = pydicom.dcmread(f, stop_before_pixels=not pixels)
    except InvalidDicomError:
        raise ValueError(f"{path}: not a DICOM file") from None
    except Exception as exc:  # noqa: BLE001 - corrupt files raise many types
        raise ValueError(f"{path}: cannot read DICOM ({type(exc).__name__}: {exc})") from None
    problem = _kind_problem(dataset)
    if problem is not None:
        raise ValueError(f"{path}: not a CT image series ({problem}); export the CT as classic CT Image Storage, "
                         "one file per slice")
    if pixels:
        try:
            _ = dataset.pixel_array  # decode now, so that a corrupt file fails here with its name
        except Exception as exc:  # noqa: BLE001 - pixel decoders raise many types
            raise ValueError(f"{path}: cannot read DICOM pixels ({type(exc).__name__}: {exc})") from None
    missing = [tag for tag in GEOMETRY_TAGS if tag not in dataset]
    if missing:
        raise ValueError(f"{path}: missing DICOM geometry ({', '.join(missing)})")
    if "PixelData" not in dataset and pixels:
        raise ValueError(f"{path}: DICOM file without pixel data")
    return dataset


def _hu(dataset) -> np.ndarray:
    """(rows, columns) float32 HU of one slice."""
    pixels = dataset.pixel_array
    if pixels.ndim != 2:
        raise ValueError(f"{dataset.filename}: expected one 2D slice per file, got pixel shape {pixels.shape}")
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    return (pixels.astype(np.float32) * slope + intercept).astype(np.float32)


def _in_plane(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row direction * column spacing, column direction * row spacing, and the unit normal (LPS)."""
    cosines = np.asarray([float(v) for v in dataset.ImageOrientationPatient])
    row_spacing, column_spacing = (float(v) for v in dataset.PixelSpacing)
    along_row, along_column = cosines[:3], cosines[3:]
    normal = np.cross(along_row, along_column)
    if not np.allclose([np.linalg.norm(along_row), np.linalg.norm(along_column), along_row @ along_column],
                       [1.0, 1.0, 0.0], atol=1e-3):
        raise ValueError(f"{dataset.filename}: ImageOrientationPatient is not two orthonormal directions")
    return along_row * column_spacing, along_column * row_spacing, normal


def _affine(dataset, step: np.ndarray) -> np.ndarray:
    """RAS+ affine of the on-disk (column, row, slice) axes; ``step`` = LPS vector between slices."""
    di, dj, _ = _in_plane(dataset)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = di, dj, step
    lps[:3, 3] = [float(v) for v in dataset.ImagePositionPatient]
    return LPS_TO_RAS @ lps


def read_dicom_file(path: str | Path) -> Volume:
    """Read one CT slice as a (1, H, W)-like volume (one on-disk slice; see ``require_3d``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    dataset = _read(path)
    _, _, normal = _in_plane(dataset)
    thickness = float(dataset.get("SpacingBetweenSlices") or dataset.get("SliceThickness") or 1.0)
    hu = _hu(dataset).T[:, :, None]                                  # (columns, rows, 1)
    grid = Grid(hu.shape, _affine(dataset, normal * thickness))
    return Volume(grid.to_canonical(hu), grid, str(path))


def read_dicom_series(folder: str | Path) -> Volume:
    """Read all DICOM files of ``folder`` (one series; hidden files and DICOMDIR are skipped).

    Slices are sorted along the slice normal; they must share orientation, pixel spacing and size
    and be evenly spaced (to 1% of the step), otherwise ValueError names the folder or file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != "DICOMDIR")
    if not files:
        raise ValueError(f"{folder}: no DICOM files")
    if len(files) == 1:
        return read_dicom_file(files[0])
    datasets = [_read(p) for p in files]
    series = {str(d.get("SeriesInstanceUID", "")) for d in datasets}
    if len(series) > 1:
        raise ValueError(f"{folder}: holds {len(series)} DICOM series; put one series per folder")
    first = datasets[0]
    _, _, normal = _in_plane(first)
    for d in datasets[1:]:
        if not (np.allclose([float(v) for v in d.ImageOrientationPatient],
                            [float(v) for v in first.ImageOrientationPatient], atol=1e-4)
                and np.allclose([float(v) for v in d.PixelSpacing], [float(v) for v in first.PixelSpacing])
                and (d.Rows, d.Columns) == (first.Rows, first.Columns)):
            raise ValueError(f"{d.filename}: orientation, pixel spacing or size differs from {first.filename}")
    positions = np.array([[float(v) for v in d.ImagePositionPatient] for d in datasets])
    order = np.argsort(positions @ normal, kind="stable")
    datasets, positions = [datasets[i] for i in order], positions[order]
    gaps = np.diff(positions @ normal)
    if gaps.min() < 1e-4:
        raise ValueError(f"{folder}: two slices share a position")
    if np.ptp(gaps) > 0.01 * gaps.mean():
        raise ValueError(f"{folder}: slices are not evenly spaced (gaps from {gaps.min():.3g} to {gaps.max():.3g} mm)")
    step = (positions[-1] - positions[0]) / (len(datasets) - 1)
    hu = np.stack([_hu(d).T for d in datasets], axis=-1)             # (columns, rows, slices)
    grid = Grid(hu.shape, _affine(datasets[0], step))
    return Volume(grid.to_canonical(hu), grid, str(folder))
