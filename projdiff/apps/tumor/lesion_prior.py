"""What the tumor application must know about a conditional lesion prior (its model-card metadata).

The prior (``projdiff train --preset lesions``) models S axial slices of CT in window units scaled
to [-1, 1], conditioned on the lesion and organ mask stacks (2 S channels). Its ``projdiff.json``
metadata (``"kind": "lesion"``) is written by the training recipe (``LesionPriorCard.to_dict``) and
read by the ProjDiff lesion backend and the adversarial fine-tuning (``LesionPriorCard.from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass

from projdiff.apps.tumor.ct.hu import HUWindow

KIND = "lesion"


@dataclass(frozen=True)
class LesionPriorCard:
    """The metadata of a lesion prior.

    Attributes
    ----------
    slices : int
        S, axial slices per item.
    crop : int
        In-plane side of the training crops, voxels.
    window_hu : (float, float)
        HU window mapped to [0, 1] (then to [-1, 1] in model units).
    spacing_mm : (float, float, float)
        Voxel size along (D, H, W) the prior was trained at.
    """

    slices: int
    crop: int
    window_hu: tuple[float, float]
    spacing_mm: tuple[float, float, float]

    @property
    def window(self) -> HUWindow:
        return HUWindow(*self.window_hu)

    def to_dict(self) -> dict:
        return {"kind": KIND, "slices": self.slices, "crop": self.crop, "window_hu": list(self.window_hu),
                "spacing_mm": list(self.spacing_mm), "condition": ["lesion mask", "organ mask"],
                "units": "window units scaled to [-1, 1]; masks 0/1"}

    @classmethod
    def from_dict(cls, meta: dict, flag: str = "prior") -> "LesionPriorCard":
        """From a prior's metadata; ValueError naming ``flag`` when it is not a lesion prior's."""
        if meta.get("kind") != KIND:
            raise ValueError(f"{flag}: not a lesion prior (its projdiff.json metadata has kind {meta.get('kind')!r}, "
                             f"not {KIND!r}); train one with 'projdiff train --preset lesions'")
        return cls(int(meta["slices"]), int(meta["crop"]), tuple(float(v) for v in meta["window_hu"]),
                   tuple(float(v) for v in meta["spacing_mm"]))
