"""Segmentation metrics in physical units: Dice and surface Dice (NSD) by MONAI, lesion-level
sensitivity and per-lesion Dice by size class; and a 3D-consistency figure of a lesion's appearance
(``slice_jumps``).

Masks are boolean (D, H, W) arrays on one grid; ``spacing`` is the voxel size in mm along
(D, H, W). Compute them on the original grid (the one the label files are in).

Dice and NSD are MONAI's (``monai.metrics.compute_dice`` and ``compute_surface_dice``, the functions
behind ``DiceMetric`` and ``SurfaceDiceMetric``), so the numbers compare with work that uses them:
NSD with DeepMind's surface elements (``use_subvoxels=True``) and the voxel spacing, tolerance in mm.
Empty cases follow MONAI: Dice is NaN when the truth is empty (``ignore_empty``), 0 when only the
prediction is; NSD is NaN when both are empty and 0 when exactly one is. Average with
``np.nanmean`` and count cases without true lesions separately. ``lesion_sensitivity`` counts
lesions, so a case without true lesions adds nothing to any size class; its predicted components are
``false_positive_components``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import ndimage

from projdiff.apps.tumor.lesion_masks import CLASS_LIMITS_MM, size_class_of

FULL_CONNECTIVITY = ndimage.generate_binary_structure(3, 3)


def _one_hot(mask: np.ndarray) -> torch.Tensor:
    """(1, 2, D, H, W) float: background, foreground."""
    fg = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool)).float()[None, None]
    return torch.cat([1.0 - fg, fg], dim=1)


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """MONAI's Dice of the foreground: 2 |P & T| / (|P| + |T|); NaN when the truth is empty."""
    from monai.metrics import compute_dice

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(compute_dice(_one_hot(pred), _one_hot(truth), include_background=False)[0, 0])


def surface_dice(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float],
                 tolerance_mm: float = 2.0) -> float:
    """MONAI's normalised surface Dice (DeepMind's surface elements): the share of both surfaces within
    ``tolerance_mm`` of the other; NaN when both masks are empty, 0 when exactly one is.

    Parameters
    ----------
    pred, truth : ndarray of bool, shape (D, H, W)
    spacing : tuple of 3 floats
        Voxel size along (D, H, W), mm.
    tolerance_mm : float
        Default 2 mm.
    """
    from monai.metrics import compute_surface_dice

    if not pred.any() and not truth.any():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(compute_surface_dice(_one_hot(pred), _one_hot(truth), [float(tolerance_mm)],
                                          spacing=[float(s) for s in spacing], use_subvoxels=True)[0, 0])


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


def lesion_dice(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float]) -> list[dict]:
    """Dice of each true lesion with the predicted components that touch it, and its size class.

    True lesions are the 26-connected components of ``truth``; lesion i is scored against the union
    of the predicted components overlapping it (0 when none does). Returns one
    ``{"size_class", "radius_mm", "voxels", "dice"}`` per lesion, in component order.
    """
    pred, truth = pred.astype(bool), truth.astype(bool)
    components, count = ndimage.label(truth, structure=FULL_CONNECTIVITY)
    predicted, _ = ndimage.label(pred, structure=FULL_CONNECTIVITY)
    out = []
    for index in range(1, count + 1):
        lesion = components == index
        touching = np.setdiff1d(np.unique(predicted[lesion]), [0])
        found = np.isin(predicted, touching) if touching.size else np.zeros_like(pred)
        radius = equivalent_radius_mm(int(lesion.sum()), spacing)
        out.append({"size_class": size_class_of(radius), "radius_mm": radius, "voxels": int(lesion.sum()),
                    "dice": 2.0 * int((found & lesion).sum()) / (int(found.sum()) + int(lesion.sum()))})
    return out


def case_metrics(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float],
                 tolerance_mm: float = 2.0) -> dict:
    """Per-case Dice, NSD, lesion sensitivity, per-lesion Dice and an ``empty_truth`` flag (module docstring)."""
    return {"dice": dice(pred, truth), "nsd": surface_dice(pred, truth, spacing, tolerance_mm),
            "tolerance_mm": tolerance_mm, "empty_truth": not truth.any(),
            "lesions": lesion_sensitivity(pred, truth, spacing), "per_lesion": lesion_dice(pred, truth, spacing)}


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
