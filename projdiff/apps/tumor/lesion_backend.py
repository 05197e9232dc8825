"""The interface every lesion appearance backend implements, and the blending they share.

A backend turns a CT crop, a lesion mask and the host organ's mask into the CT with the lesion.
The hand-crafted baseline (``handcrafted_lesion.py``) implements it; a learned (ProjDiff) backend
will implement the same call. The pipeline passes crops around each lesion, one lesion per call.

Blending rule for all backends: ``out = ct + soft * (proposal - ct)`` where ``soft`` is the lesion
mask blurred by a Gaussian (truncated at ``truncate`` sigmas) and multiplied by the organ mask.
So only voxels inside the organ and within the blurred lesion's support can change; everything
else keeps its exact input value.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from scipy import ndimage

HU_CLIP = (-1024.0, 3071.0)


@runtime_checkable
class LesionSynthesizer(Protocol):
    """Draws a lesion's appearance into a CT crop."""

    name: str

    def synthesize(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, organ_mask: np.ndarray,
                   generator: np.random.Generator) -> np.ndarray:
        """Return the crop with the lesion.

        Parameters
        ----------
        ct_hu : ndarray, shape (D, H, W), float32
            CT in HU (canonical layout: D axial slices).
        lesion_mask : ndarray of bool, shape (D, H, W)
            The lesion; lies inside ``organ_mask``.
        organ_mask : ndarray of bool, shape (D, H, W)
            The host organ; nothing outside it may change.
        generator : numpy.random.Generator
            The only source of randomness (torch backends derive a seed from it).

        Returns
        -------
        ndarray, shape (D, H, W), float32
            Finite HU in [-1024, 3071]; equal to ``ct_hu`` outside the organ and the blurred lesion.
        """
        ...


def soft_lesion_mask(lesion_mask: np.ndarray, organ_mask: np.ndarray, sigma: float | Sequence[float],
                     truncate: float = 3.0) -> np.ndarray:
    """Blurred lesion mask in [0, 1] (float32), zero outside the organ.

    ``sigma`` is in voxels (one value or one per axis); the blur reaches at most
    ``round(truncate * sigma)`` voxels beyond the lesion along each axis, and is exactly zero further out.
    """
    soft = ndimage.gaussian_filter(lesion_mask.astype(np.float32), sigma, truncate=truncate, mode="constant")
    return np.clip(soft, 0.0, 1.0) * organ_mask


def blend(ct_hu: np.ndarray, proposal_hu: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """``ct + soft * (proposal - ct)`` where ``soft > 0``, clipped to [-1024, 3071] HU; ``ct`` elsewhere."""
    mixed = np.clip(ct_hu + soft * (proposal_hu - ct_hu), *HU_CLIP)
    return np.where(soft > 0, mixed, ct_hu).astype(np.float32)


def lesion_box(mask: np.ndarray, margin: int | Sequence[int]) -> tuple[slice, slice, slice]:
    """The bounding box of ``mask`` grown by ``margin`` voxels (per axis or one value), clipped to the volume."""
    margins = np.broadcast_to(np.asarray(margin, int), (mask.ndim,))
    box = []
    for axis, m in enumerate(margins):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(max(int(hit[0]) - int(m), 0), min(int(hit[-1]) + int(m) + 1, mask.shape[axis])))
    return tuple(box)
