"""Hounsfield units: the intensity window, the [0, 1] model space, int16 output and a sanity check.

Air is -1000 HU, water 0, soft tissue 20-70, bone 400 and above. Models see a window of HU
clipped and mapped linearly to [0, 1]; files are written back in HU as int16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AIR_THRESHOLD_HU = -500.0
HU_RANGE = (-1024.0, 3071.0)


@dataclass(frozen=True)
class HUWindow:
    """A HU window [low, high] mapped to [0, 1] (default [-175, 250], the abdominal window)."""

    low: float = -175.0
    high: float = 250.0

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"HU window: expected low < high, got [{self.low}, {self.high}]")

    @classmethod
    def parse(cls, text: str) -> "HUWindow":
        """``'LOW,HIGH'`` in HU, e.g. ``'-175,250'``."""
        try:
            low, high = (float(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"HU window: expected LOW,HIGH in HU, e.g. -175,250, got {text!r}") from None
        return cls(low, high)

    def to_unit(self, hu: np.ndarray) -> np.ndarray:
        """HU -> [0, 1] (clipped), float32, same shape."""
        return np.clip((np.asarray(hu, np.float32) - self.low) / (self.high - self.low), 0.0, 1.0).astype(np.float32)

    def to_hu(self, unit: np.ndarray) -> np.ndarray:
        """[0, 1] -> HU in [low, high] (inputs are clipped to [0, 1]), float32, same shape."""
        unit = np.clip(np.asarray(unit, np.float32), 0.0, 1.0)
        return (self.low + unit * (self.high - self.low)).astype(np.float32)


def to_int16(hu: np.ndarray) -> np.ndarray:
    """HU -> int16 for output files: rounded, clipped to [-1024, 3071]."""
    return np.clip(np.rint(hu), *HU_RANGE).astype(np.int16)


def check_hu(hu: np.ndarray, source: str) -> None:
    """Raise ValueError unless ``hu`` looks like a CT in Hounsfield units.

    A CT of a body holds air (outside the body, in the lungs or bowel) far below -500 HU. Volumes
    without any voxel below -500 HU are rejected: typically images rescaled to [0, 1] or [0, 255],
    or a CT whose rescale slope/intercept were lost (stored values 0..4095).
    """
    if not np.isfinite(hu).all():
        raise ValueError(f"{source}: the image holds NaN or infinite values")
    low, high = float(hu.min()), float(hu.max())
    if low >= AIR_THRESHOLD_HU:
        hint = " (looks like a [0, 1] image)" if high <= 1.0 else \
            " (looks like a [0, 255] image)" if high <= 255 else \
            " (looks like stored scanner values without the rescale to HU, e.g. RescaleIntercept -1024)" \
            if low >= 0 and high <= 65535 else ""
        raise ValueError(f"{source}: not a CT in Hounsfield units: no air below {AIR_THRESHOLD_HU:g} HU, "
                         f"values lie in [{low:g}, {high:g}]{hint}")
