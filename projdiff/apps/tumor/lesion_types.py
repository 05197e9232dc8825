"""Lesion types: where a lesion's mean HU lies relative to the organ around it.

==============  =============================================  ====================================================
type            lesion mean HU                                 what it stands for
==============  =============================================  ====================================================
``hypodense``   organ - 80 .. organ - 20 HU                    hypovascular tumours in the portal-venous phase (the
(default)                                                      phase of the public liver-tumour sets): most liver
                                                               metastases, HCC after wash-out, pancreatic
                                                               adenocarcinoma; lower than the enhanced parenchyma
``hyperdense``  organ + 15 .. organ + 60 HU                    hypervascular lesions in the arterial phase (HCC,
                                                               neuroendocrine, renal-cell metastases)
``cystic``      0 .. 20 HU (absolute)                          simple cysts: water attenuation, no enhancement
``free``        not constrained                                the lesion prior decides (its training mixture:
                                                               70 % hypodense; erratic on CT unlike its training)
==============  =============================================  ====================================================

Texture, relative to the organ too: the HU standard deviation of the lesion's core (its voxels more than
``CORE_MM`` = 2 mm inside its edge, away from the blended boundary) over that of the organ within 5 mm
around it (``lesion_stats``). A lesion and the liver around it share the CT's noise, so the ratio is
about 1 for a homogeneous lesion; heterogeneous tumours (necrosis, haemorrhage, mixed enhancement)
add to it. Ranges: hypodense and hyperdense 0.9-1.6, cystic 0.6-1.1 (fluid is homogeneous: the noise
alone, which the blur of a thicker slice can lower), free: not constrained.

Sources. Qualitative: most liver metastases are hypovascular and hypoattenuating to the enhanced
liver in the portal-venous phase, hypervascular ones are seen in the arterial phase (Kulinna C,
Schima W. Imaging features of hepatic metastases: CT and MR. In: Medical Radiology, Springer 2006;
Oliver JH et al. Hypervascular liver metastases: do unenhanced and hepatic arterial phase CT images
affect tumor detection? Radiology 1997;205:709-715). Simple hepatic cysts have water attenuation,
about 0-10 HU, and do not enhance (Radiopaedia, "Simple hepatic cyst"); < 20 HU is the usual
threshold. The numeric contrast ranges of the hypodense and hyperdense types are this project's
choice within those descriptions (the same as the realistic phantom lesions, ``realistic_lesions.py``),
not values measured in a cited study; so are the texture ratios (CT texture studies report metastases
as more heterogeneous than liver, e.g. Lubner MG et al., CT texture analysis: definitions, applications,
biologic correlates, and challenges, RadioGraphics 2017;37:1483-1503, but no ratio range to copy).

The learned backend draws each lesion's target mean uniformly from its type's range, 5 HU inside each
end (the organ's HU measured around the lesion) and constrains the sample to it; it then scales the lesion's deviations
from its mean so that the core's texture ratio lies in the type's range (``projdiff_lesion``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELATIVE_MARGIN_HU = 5.0


@dataclass(frozen=True)
class LesionType:
    """A lesion's mean HU: ``relative_hu`` added to the organ's, or ``absolute_hu``; None for both = free.

    ``texture_ratio``: the range of the lesion core's HU standard deviation over the organ ring's (None: free).
    """

    name: str
    relative_hu: tuple[float, float] | None = None
    absolute_hu: tuple[float, float] | None = None
    texture_ratio: tuple[float, float] | None = None

    def target_hu(self, organ_hu: float, rng: np.random.Generator) -> float | None:
        """A lesion mean in HU drawn from the range (None for ``free``); one draw from ``rng`` otherwise.

        A relative range is narrowed by ``RELATIVE_MARGIN_HU`` at both ends: ``organ_hu`` is the organ's median
        in the crop, and the organ right around the finished lesion (``lesion_stats``' ring, which includes the
        redrawn margin) differs from it by a few HU.
        """
        if self.relative_hu is not None:
            low, high = self.relative_hu
            return float(organ_hu + rng.uniform(low + RELATIVE_MARGIN_HU, high - RELATIVE_MARGIN_HU))
        if self.absolute_hu is not None:
            return float(rng.uniform(*self.absolute_hu))
        return None

    def contains(self, lesion_hu: float, organ_hu: float) -> bool:
        """Whether a lesion of mean ``lesion_hu`` in an organ of ``organ_hu`` (HU) is of this type (free: always)."""
        if self.relative_hu is not None:
            return self.relative_hu[0] <= lesion_hu - organ_hu <= self.relative_hu[1]
        if self.absolute_hu is not None:
            return self.absolute_hu[0] <= lesion_hu <= self.absolute_hu[1]
        return True

    def texture_scale(self, core_sd: float, ring_sd: float, margin: float = 0.0) -> float:
        """The factor that brings a core standard deviation ``core_sd`` into ``texture_ratio`` x ``ring_sd``,
        narrowed by the fraction ``margin`` at both ends (1 when it is there already, when the type is free,
        or when either spread is not positive)."""
        if self.texture_ratio is None or not (core_sd > 0 and ring_sd > 0):
            return 1.0
        low, high = self.texture_ratio[0] * ring_sd * (1 + margin), self.texture_ratio[1] * ring_sd * (1 - margin)
        return float(np.clip(core_sd, low, high)) / core_sd

    def texture_contains(self, core_sd: float, ring_sd: float) -> bool:
        """Whether a core texture ``core_sd`` beside a ring's ``ring_sd`` (HU) is of this type (free: always)."""
        if self.texture_ratio is None:
            return True
        return self.texture_ratio[0] <= core_sd / ring_sd <= self.texture_ratio[1]


LESION_TYPES: dict[str, LesionType] = {
    "hypodense": LesionType("hypodense", relative_hu=(-80.0, -20.0), texture_ratio=(0.9, 1.6)),
    "hyperdense": LesionType("hyperdense", relative_hu=(15.0, 60.0), texture_ratio=(0.9, 1.6)),
    "cystic": LesionType("cystic", absolute_hu=(0.0, 20.0), texture_ratio=(0.6, 1.1)),
    "free": LesionType("free"),
}
DEFAULT_LESION_TYPE = "hypodense"


def lesion_type(name: str) -> LesionType:
    """The type called ``name``; ValueError naming ``--lesion-type`` otherwise."""
    if name not in LESION_TYPES:
        raise ValueError(f"--lesion-type: expected one of {', '.join(LESION_TYPES)}, got {name!r}")
    return LESION_TYPES[name]
