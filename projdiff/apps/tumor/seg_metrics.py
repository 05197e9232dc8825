"""Segmentation metrics in physical units: Dice, surface Dice (NSD) and lesion-level sensitivity;
and a 3D-consistency figure of a lesion's appearance (``slice_jumps``).

Masks are boolean (D, H, W) arrays on one grid; ``spacing`` is the voxel size in mm along
(D, H, W). Compute them on the original grid (the one the label files are in).

Empty cases:

- Dice and NSD are NaN when both masks are empty (nothing to find, nothing found: a true
  negative case). Average them with ``np.nanmean`` and count such cases separately; if the truth is
  empty and the prediction is not, both are 0 (a false-positive case), and the same when the truth
  is non-empty and the prediction empty.
- ``lesion_sensitivity`` counts lesions, so a case without true lesions adds nothing to any size
  class; its predicted components are reported as ``false_positive_components``.

NSD counts surface voxels (voxels of the mask with a 6-neighbour outside it, the volume border
counting as outside) rather than surface-area elements as DeepMind's ``surface_distance`` does,
so values differ slightly on coarse grids.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.lesion_masks import CLASS_LIMITS_MM, size_class_of

FULL_CONNECTIVITY = ndimage.generate_binary_structure(3, 3)


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """2 |P & T| / (|P| + |T|); NaN when both are empty."""
    pred, truth = pred.astype(bool), truth.astype(bool)
    total = int(pred.sum()) + int(truth.sum())
    return float("nan") if total == 0 else 2.0 * int((pred & truth).sum()) / total


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def surface_dice(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float],
                 tolerance_mm: float = 2.0) -> float:
    """Normalised surface Dice: the share of both surfaces within ``tolerance_mm`` of the other.

    Parameters
    ----------
    pred, truth : ndarray of bool, shape (D, H, W)
    spacing : tuple of 3 floats
        Voxel size along (D, H, W), mm.
    tolerance_mm : float
        Default 2 mm.

    Returns
    -------
    float
        In [0, 1]; NaN when both masks are empty, 0 when exactly one is.
    """
    pred, truth = pred.astype(bool), truth.astype(bool)
    if not pred.any() and not truth.any():
        return float("nan")
    if not pred.any() or not truth.any():
        return 0.0
    surface_p, surface_t = _surface(pred), _surface(truth)
    to_t = ndimage.distance_transform_edt(~surface_t, sampling=spacing)
    to_p = ndimage.distance_transform_edt(~surface_p, sampling=spacing)
    close = int((to_t[surface_p] <= tolerance_mm).sum()) + int((to_p[surface_t] <= tolerance_mm).sum())
    return close / (int(surface_p.sum()) + int(surface_t.sum()))


def equivalent_radius_mm(voxels: int, spacing: tuple[float, float, float]) -> float:
    """Radius of the sphere with the volume of ``voxels`` voxels, mm."""
    return float((3.0 * voxels * float(np.prod(spacing)) / (4.0 * np.pi)) ** (1.0 / 3.0))


def lesion_sensitivity(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float],
                       min_overlap: float = 0.0) -> dict:
    """Lesion-level detection by size class.

    True lesions are the connected components of ``truth`` (26-connectivity). A lesion is detected
    when more than ``min_overlap`` of its voxels are predicted (default: any voxel). Its size class
    comes from its equivalent-sphere radius (``lesion_masks.size_class_of``).

    Returns
    -------
    dict
        ``{"classes": {name: {"lesions": n, "detected": k, "sensitivity": k / n or NaN}},
        "lesions", "detected", "sensitivity" (all classes), "false_positive_components"}``
        (predicted components touching no true lesion).
    """
    pred, truth = pred.astype(bool), truth.astype(bool)
    components, count = ndimage.label(truth, structure=FULL_CONNECTIVITY)
    classes = {name: {"lesions": 0, "detected": 0} for name, _ in CLASS_LIMITS_MM}
    if count:
        sizes = np.bincount(components.ravel(), minlength=count + 1)
        hits = np.bincount(components.ravel(), weights=pred.ravel(), minlength=count + 1)
        for index in range(1, count + 1):
            entry = classes[size_class_of(equivalent_radius_mm(int(sizes[index]), spacing))]
            entry["lesions"] += 1
            entry["detected"] += int(hits[index] > min_overlap * sizes[index])
    for entry in classes.values():
        entry["sensitivity"] = entry["detected"] / entry["lesions"] if entry["lesions"] else float("nan")
    predicted, found = ndimage.label(pred, structure=FULL_CONNECTIVITY)
    touching = set(np.unique(predicted[truth])) - {0}
    lesions = sum(e["lesions"] for e in classes.values())
    detected = sum(e["detected"] for e in classes.values())
    return {"classes": classes, "lesions": lesions, "detected": detected,
            "sensitivity": detected / lesions if lesions else float("nan"),
            "false_positive_components": found - len(touching)}


def case_metrics(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float],
                 tolerance_mm: float = 2.0) -> dict:
    """Per-case Dice, NSD, lesion sensitivity and an ``empty_truth`` flag (see the module docstring)."""
    return {"dice": dice(pred, truth), "nsd": surface_dice(pred, truth, spacing, tolerance_mm),
            "tolerance_mm": tolerance_mm, "empty_truth": not truth.any(),
            "lesions": lesion_sensitivity(pred, truth, spacing)}


def slice_jumps(ct_hu: np.ndarray, mask: np.ndarray) -> dict:
    """Mean absolute intensity jump (HU) between neighbouring voxels inside a lesion, across and within slices.

    ``through_plane_hu``: mean ``|ct[d + 1, h, w] - ct[d, h, w]|`` over the voxel pairs of consecutive
    axial slices that both lie in ``mask``; ``in_plane_hu``: the same along H and W (the noise and
    texture reference). A lesion drawn slice stack by slice stack without 3D consistency shows a
    larger ``ratio`` = through / in-plane than the real lesions at the same voxel spacing. NaN when
    there are no pairs.

    Parameters
    ----------
    ct_hu : ndarray, shape (D, H, W)
        CT in HU.
    mask : ndarray of bool, shape (D, H, W)
        The lesion(s).
    """
    ct, mask = np.asarray(ct_hu, np.float64), mask.astype(bool)

    def jumps(axis: int) -> np.ndarray:
        first, second = [slice(None)] * 3, [slice(None)] * 3
        first[axis], second[axis] = slice(None, -1), slice(1, None)
        both = mask[tuple(first)] & mask[tuple(second)]
        return np.abs(ct[tuple(second)] - ct[tuple(first)])[both]

    through, within = jumps(0), np.concatenate([jumps(1), jumps(2)])
    through_hu = float(through.mean()) if through.size else float("nan")
    in_plane_hu = float(within.mean()) if within.size else float("nan")
    return {"through_plane_hu": through_hu, "in_plane_hu": in_plane_hu,
            "ratio": through_hu / in_plane_hu if in_plane_hu > 0 else float("nan")}
