"""Organ-relative intensities: map a crop so that the organ around a lesion looks like the training data's.

The learned tumor models (the lesion prior, the judge, the discriminator) were trained on phantom
organs whose median lies in 25-65 HU and whose robust spread (1.4826 x MAD: texture and CT noise) lies
in 9-22 HU (``phantom.py`` and ``lesion_crops.py``: liver 60, spleen 50, pancreas 40, kidneys 30 HU, noise
8-20 HU). Real CT differs: an enhanced liver is about 105 HU in the portal-venous phase, a fatty one
30 HU, and noise depends on dose and slice thickness. ``LocalNormalisation`` measures the organ in a
crop and maps HU by ``reference + (hu - organ_hu) * scale`` with ``reference = clip(organ_hu, 25, 65)``
and ``scale = clip(spread, 9, 22) / spread``: an identity for crops already in those ranges, a shift and
scale into them otherwise. ``inverse`` maps back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAINING_ORGAN_HU = (25.0, 65.0)
TRAINING_ORGAN_SPREAD_HU = (9.0, 22.0)
MIN_ORGAN_VOXELS = 50  # fewer organ voxels than this around a lesion: measure over all the organ's voxels given


@dataclass(frozen=True)
class LocalNormalisation:
    """HU -> HU map ``reference_hu + (hu - organ_hu) * scale`` (see the module docstring)."""

    organ_hu: float
    reference_hu: float
    scale: float

    @classmethod
    def measure(cls, ct_hu: np.ndarray, organ: np.ndarray, hu_range: tuple[float, float] = TRAINING_ORGAN_HU,
                spread_range: tuple[float, float] = TRAINING_ORGAN_SPREAD_HU) -> "LocalNormalisation":
        """From the HU of the voxels ``organ`` (bool, ``ct_hu``'s shape) of ``ct_hu``: median and 1.4826 x MAD."""
        values = ct_hu[organ]
        if values.size == 0:
            return cls(0.0, 0.0, 1.0)
        median = float(np.median(values))
        spread = max(1.4826 * float(np.median(np.abs(values - median))), 1e-3)
        return cls(median, float(np.clip(median, *hu_range)), float(np.clip(spread, *spread_range)) / spread)

    @classmethod
    def around(cls, ct_hu: np.ndarray, organ: np.ndarray, exclude: np.ndarray, **ranges) -> "LocalNormalisation":
        """``measure`` over the organ voxels outside ``exclude`` (e.g. a lesion and its margin), or over all of
        ``organ`` when fewer than ``MIN_ORGAN_VOXELS`` remain."""
        context = organ & ~exclude
        return cls.measure(ct_hu, context if context.sum() >= MIN_ORGAN_VOXELS else organ, **ranges)

    def forward(self, hu):
        return self.reference_hu + (hu - self.organ_hu) * self.scale

    def inverse(self, hu):
        return self.organ_hu + (hu - self.reference_hu) / self.scale
