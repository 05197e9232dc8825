"""The hand-crafted lesion baseline: noise texture, a HU drop (or rise) and a soft edge.

Appearance recipe (our own parameterisation of the idea used by SynTumor, Hu et al., CVPR 2023):

1. texture: a probability field (uniform noise blurred by ``grain_sigma`` voxels, rescaled to
   [0.1, 0.9]) is sampled as Bernoulli noise, which is blurred by ``speckle_sigma`` voxels and
   scaled to mean 1 inside the lesion (clipped to [0, 2]);
2. intensity: ``proposal = ct -/+ delta * texture`` with ``delta`` drawn from ``delta_hu`` (HU);
3. edge: the lesion mask blurred by ``edge_sigma`` voxels, times the organ mask, blends the
   proposal into the CT (``lesion_backend.blend``), so nothing changes outside the organ.

Every range is drawn uniformly per lesion from the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.lesion_backend import blend, soft_lesion_mask


@dataclass(frozen=True)
class HandcraftedLesion:
    """SynTumor-style lesion appearance in HU.

    Parameters
    ----------
    contrast : {"hypo", "hyper"}
        Darker (default) or brighter than the organ.
    delta_hu : (float, float)
        Mean HU change inside the lesion (default 65-145 HU).
    grain_sigma : (float, float)
        Blur of the probability field, voxels (default 2-6): the size of texture blobs.
    speckle_sigma : (float, float)
        Blur of the Bernoulli samples, voxels (default 1-2).
    edge_sigma : (float, float)
        Blur of the lesion mask at the edge, voxels (default 1-2).
    """

    contrast: Literal["hypo", "hyper"] = "hypo"
    delta_hu: tuple[float, float] = (65.0, 145.0)
    grain_sigma: tuple[float, float] = (2.0, 6.0)
    speckle_sigma: tuple[float, float] = (1.0, 2.0)
    edge_sigma: tuple[float, float] = (1.0, 2.0)
    name: str = "handcrafted"

    def __post_init__(self) -> None:
        if self.contrast not in ("hypo", "hyper"):
            raise ValueError(f"handcrafted lesion: contrast must be 'hypo' or 'hyper', got {self.contrast!r}")
        for field in ("delta_hu", "grain_sigma", "speckle_sigma", "edge_sigma"):
            low, high = getattr(self, field)
            if not 0 < low <= high:
                raise ValueError(f"handcrafted lesion: {field} must satisfy 0 < low <= high, got {(low, high)}")

    def texture(self, shape: tuple[int, int, int], lesion_mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(D, H, W) float32 texture in [0, 2] with mean 1 over the lesion."""
        field = ndimage.gaussian_filter(rng.random(shape, dtype=np.float32), rng.uniform(*self.grain_sigma))
        field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
        spots = (rng.random(shape, dtype=np.float32) < 0.1 + 0.8 * field).astype(np.float32)
        texture = ndimage.gaussian_filter(spots, rng.uniform(*self.speckle_sigma))
        mean = float(texture[lesion_mask].mean()) if lesion_mask.any() else 1.0
        return np.clip(texture / max(mean, 1e-6), 0.0, 2.0)

    def synthesize(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, organ_mask: np.ndarray,
                   generator: np.random.Generator) -> np.ndarray:
        """See ``LesionSynthesizer.synthesize``."""
        lesion_mask = lesion_mask & organ_mask
        sign = -1.0 if self.contrast == "hypo" else 1.0
        delta = generator.uniform(*self.delta_hu)
        proposal = ct_hu + sign * delta * self.texture(ct_hu.shape, lesion_mask, generator)
        soft = soft_lesion_mask(lesion_mask, organ_mask, generator.uniform(*self.edge_sigma))
        return blend(ct_hu.astype(np.float32), proposal, soft)
