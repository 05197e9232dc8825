"""The input of ``projdiff tumor --demo``: a real abdominal CT slice made into a thin slab.

With ``pydicom-data`` installed the demo uses ``explicit_VR-UN.dcm``: one axial slice (512 x 512,
0.86 mm pixels, HU) of patient PANCREAS_0001 of the NIH Pancreas-CT collection on The Cancer
Imaging Archive (Roth HR, Farag A, Turkbey EB, Lu L, Liu J, Summers RM. Data From Pancreas-CT.
TCIA, 2016. doi:10.7937/K9/TCIA.2016.tNB1kqBU; Clark K et al., J Digit Imaging 26:1045-1057,
2013; CC BY). Synthesis needs a volume, so the slice is repeated into a slab of ``SLAB_SLICES``
slices ``SLAB_STEP_MM`` apart, centred on the slice's position and orientation. The slice has no
organ labels: the liver mask is a rough automatic one (smoothed HU in 75-125, on the patient's right
half, opened, largest component, holes filled), which is not an annotation. Without
``pydicom-data`` the demo uses the procedural phantom (``projdiff.apps.tumor.phantom``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.ct.cases import Case
from projdiff.apps.tumor.ct.dicom import read_dicom_file
from projdiff.apps.tumor.ct.grid import Grid
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.volume import Volume
from projdiff.apps.tumor.phantom import make_phantom

DEMO_FILE = "explicit_VR-UN.dcm"
SLAB_SLICES, SLAB_STEP_MM = 24, 2.0
LIVER_HU = (75.0, 125.0)


def _demo_file() -> str | None:
    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        return None
    return get_testdata_file(DEMO_FILE, download=False)


def rough_liver_mask(hu: np.ndarray) -> np.ndarray:
    """A rough liver mask of one axial slice (H, W) in the canonical layout (patient's right on the left)."""
    candidate = ndimage.gaussian_filter(hu, 2.0)
    candidate = (candidate > LIVER_HU[0]) & (candidate < LIVER_HU[1])
    candidate[:, hu.shape[1] // 2:] = False
    y, x = np.ogrid[-4:5, -4:5]
    candidate = ndimage.binary_opening(candidate, x ** 2 + y ** 2 <= 16)
    components, count = ndimage.label(candidate)
    if count == 0:
        raise ValueError("demo: no liver-like region found in the demo slice")
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(components == sizes.argmax())


def slab(volume: Volume, slices: int = SLAB_SLICES, step_mm: float = SLAB_STEP_MM) -> Volume:
    """Repeat a one-slice volume into ``slices`` slices ``step_mm`` apart along its normal."""
    if volume.grid.shape[2] != 1:
        raise ValueError(f"{volume.source}: expected one slice")
    affine = volume.grid.affine.copy()
    normal = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    affine[:3, 2] = normal * step_mm
    affine[:3, 3] -= normal * step_mm * (slices - 1) / 2.0
    disk = np.repeat(volume.grid.from_canonical(volume.array), slices, axis=2)
    grid = Grid(disk.shape, affine)
    return Volume(grid.to_canonical(disk), grid, f"{volume.source} (slab of {slices} copies)")


def demo_case() -> Case:
    """The demo case: the real slice as a slab with a rough liver mask, or the phantom."""
    path = _demo_file()
    if path is None:
        return make_phantom(shape=(32, 160, 160), spacing=(2.5, 2.0, 2.0), seed=0)
    ct = slab(read_dicom_file(path))
    labels = np.zeros(ct.array.shape, np.uint8)
    labels[:] = rough_liver_mask(ct.array[ct.array.shape[0] // 2]) * DEFAULT_LABELS.code("liver")
    return Case("pancreas_ct_0001_slab", ct, labels, "dicom", DEFAULT_LABELS,
                notes=["demo: real TCIA Pancreas-CT slice repeated into a slab; rough automatic liver mask"])
