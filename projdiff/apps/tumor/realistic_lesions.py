"""Realistic lesions with ground-truth masks: the "real lesion" stand-in for training and testing.

Public CT with tumour labels cannot be fetched here, so the lesion prior, the segmenter judge,
the tests and the benchmarks use these lesions as "real" ones. They are deliberately richer than
(and different from) the hand-crafted baseline: heterogeneous texture, optional enhancing rim and
necrotic core, a partial-volume edge in mm. Each lesion draws its parameters uniformly from:

=======================  ==============================  =========================================
parameter                range                           meaning
=======================  ==============================  =========================================
kind                     hypo (p = 0.7) or hyper         darker or brighter than the organ
contrast_hu              hypo -80..-20, hyper +15..+60   lesion mean minus the organ's median HU
texture_std_hu           4..15                           std of the lesion's own texture
texture_scale_mm         1..4                            correlation length of that texture
rim (p = 0.4)            thickness 1.5..4 mm,            enhancing ring inside the lesion edge, at
                         rim_contrast_hu +20..+60        organ median + rim_contrast_hu
necrosis (p = 0.3,       core_fraction 0.3..0.6,         fluid core: the deepest ``core_fraction``
radius >= 8 mm)          core_hu 0..20                   of the lesion's depth, at core_hu (absolute)
edge_sigma_mm            0.5..1.5                        partial-volume blur of the mask edge
radius                   ``size_mm`` (default 5-25 mm)   see ``projdiff.apps.tumor.lesion_masks``
=======================  ==============================  =========================================

The change is added to the CT (``ct + soft * (target - organ median)``), so the CT's own noise
stays; only organ voxels within the blurred lesion change. The ground-truth mask is the lesion
mask clipped to the organ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.ct.shapes import smooth_noise
from projdiff.apps.tumor.lesion_backend import blend, lesion_box, soft_lesion_mask
from projdiff.apps.tumor.lesion_masks import LesionMask, sample_lesion_masks
from projdiff.utils.seeds import derive_seed


@dataclass(frozen=True)
class LesionRanges:
    """Parameter ranges of realistic lesions (see the module table); all HU or mm."""

    hypo_probability: float = 0.7
    hypo_contrast_hu: tuple[float, float] = (-80.0, -20.0)
    hyper_contrast_hu: tuple[float, float] = (15.0, 60.0)
    texture_std_hu: tuple[float, float] = (4.0, 15.0)
    texture_scale_mm: tuple[float, float] = (1.0, 4.0)
    rim_probability: float = 0.4
    rim_thickness_mm: tuple[float, float] = (1.5, 4.0)
    rim_contrast_hu: tuple[float, float] = (20.0, 60.0)
    necrosis_probability: float = 0.3
    necrosis_min_radius_mm: float = 8.0
    core_fraction: tuple[float, float] = (0.3, 0.6)
    core_hu: tuple[float, float] = (0.0, 20.0)
    edge_sigma_mm: tuple[float, float] = (0.5, 1.5)


@dataclass(frozen=True)
class LesionAppearance:
    """The drawn parameters of one lesion (None: that feature is absent)."""

    kind: str
    contrast_hu: float
    texture_std_hu: float
    texture_scale_mm: float
    rim_thickness_mm: float | None
    rim_contrast_hu: float | None
    core_fraction: float | None
    core_hu: float | None
    edge_sigma_mm: float

    @classmethod
    def draw(cls, ranges: LesionRanges, radius_mm: float, rng: np.random.Generator) -> "LesionAppearance":
        hypo = rng.random() < ranges.hypo_probability
        rim = rng.random() < ranges.rim_probability
        necrosis = rng.random() < ranges.necrosis_probability and radius_mm >= ranges.necrosis_min_radius_mm
        return cls(kind="hypo" if hypo else "hyper",
                   contrast_hu=float(rng.uniform(*(ranges.hypo_contrast_hu if hypo else ranges.hyper_contrast_hu))),
                   texture_std_hu=float(rng.uniform(*ranges.texture_std_hu)),
                   texture_scale_mm=float(rng.uniform(*ranges.texture_scale_mm)),
                   rim_thickness_mm=float(rng.uniform(*ranges.rim_thickness_mm)) if rim else None,
                   rim_contrast_hu=float(rng.uniform(*ranges.rim_contrast_hu)) if rim else None,
                   core_fraction=float(rng.uniform(*ranges.core_fraction)) if necrosis else None,
                   core_hu=float(rng.uniform(*ranges.core_hu)) if necrosis else None,
                   edge_sigma_mm=float(rng.uniform(*ranges.edge_sigma_mm)))


@dataclass(eq=False)
class RealisticLesion:
    """A lesion drawn into a CT: its placement (``placement.mask`` is the ground truth) and look."""

    placement: LesionMask
    appearance: LesionAppearance

    def as_dict(self) -> dict:
        p = self.placement
        return {"centre": list(p.centre), "radius_mm": p.radius_mm, "semi_axes_mm": list(p.semi_axes_mm),
                "size_class": p.size_class, "voxels": int(p.mask.sum()), "seed": p.seed, **asdict(self.appearance)}


def draw_lesion(ct_hu: np.ndarray, lesion: np.ndarray, organ: np.ndarray, spacing: tuple[float, float, float],
                appearance: LesionAppearance, rng: np.random.Generator) -> np.ndarray:
    """Draw one lesion with ``appearance`` into ``ct_hu`` ((D, H, W) HU, usually a crop around the
    lesion; the organ's median HU is taken over the crop); returns the new float32 CT."""
    a = appearance
    organ_hu = float(np.median(ct_hu[organ]))
    target = organ_hu + a.contrast_hu + a.texture_std_hu * smooth_noise(ct_hu.shape, spacing, a.texture_scale_mm, rng)
    depth = ndimage.distance_transform_edt(lesion, sampling=spacing)
    if a.rim_thickness_mm is not None:
        target = np.where(lesion & (depth <= a.rim_thickness_mm), organ_hu + a.rim_contrast_hu, target)
    if a.core_fraction is not None:
        core = depth >= (1.0 - a.core_fraction) * depth.max()
        target = np.where(core, a.core_hu + 0.3 * (target - organ_hu - a.contrast_hu), target)
    soft = soft_lesion_mask(lesion, organ, [a.edge_sigma_mm / s for s in spacing])
    return blend(ct_hu, ct_hu + (target - organ_hu), soft)


def add_realistic_lesions(ct_hu: np.ndarray, organ: np.ndarray, spacing: tuple[float, float, float], count: int = 1,
                          size_mm: tuple[float, float] = (5.0, 25.0), seed: int = 0,
                          ranges: LesionRanges = LesionRanges()) -> tuple[np.ndarray, list[RealisticLesion]]:
    """Place and draw ``count`` realistic lesions inside ``organ``.

    Parameters
    ----------
    ct_hu : ndarray, shape (D, H, W)
        CT in HU (not modified).
    organ : ndarray of bool, shape (D, H, W)
    spacing : tuple of 3 floats
        Voxel size along (D, H, W), mm.
    count, size_mm, seed
        Number of lesions, radius range in mm (default 5-25), seed.
    ranges : LesionRanges

    Returns
    -------
    ct : ndarray, shape (D, H, W), float32
        The CT with the lesions, HU.
    lesions : list of RealisticLesion
        Ground-truth masks (``placement.mask``) and drawn parameters.
    """
    seeds = [derive_seed("realistic-lesion", seed, k) for k in range(count)]
    placements = sample_lesion_masks(organ, spacing, count, size_mm, seeds)
    ct = np.array(ct_hu, np.float32)
    lesions = []
    for placement in placements:
        rng = np.random.default_rng(derive_seed("realistic-appearance", placement.seed))
        appearance = LesionAppearance.draw(ranges, placement.radius_mm, rng)
        box = lesion_box(placement.mask, [int(np.ceil(3 * appearance.edge_sigma_mm / s)) + 2 for s in spacing])
        ct[box] = draw_lesion(ct[box], placement.mask[box], organ[box], spacing, appearance, rng)
        lesions.append(RealisticLesion(placement, appearance))
    return ct, lesions
