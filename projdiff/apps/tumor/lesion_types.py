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

Sources. Qualitative: most liver metastases are hypovascular and hypoattenuating to the enhanced
liver in the portal-venous phase, hypervascular ones are seen in the arterial phase (Kulinna C,
Schima W. Imaging features of hepatic metastases: CT and MR. In: Medical Radiology, Springer 2006;
Oliver JH et al. Hypervascular liver metastases: do unenhanced and hepatic arterial phase CT images
affect tumor detection? Radiology 1997;205:709-715). Simple hepatic cysts have water attenuation,
about 0-10 HU, and do not enhance (Radiopaedia, "Simple hepatic cyst"); < 20 HU is the usual
threshold. The numeric contrast ranges of the hypodense and hyperdense types are this project's
choice within those descriptions (the same as the realistic phantom lesions, ``realistic_lesions.py``),
not values measured in a cited study.

The learned backend draws each lesion's target mean uniformly from its type's range (the organ's HU
measured around the lesion) and constrains the sample to it (``projdiff_lesion``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LesionType:
    """A lesion's mean HU: ``relative_hu`` added to the organ's, or ``absolute_hu``; None for both = free."""

    name: str
    relative_hu: tuple[float, float] | None = None
    absolute_hu: tuple[float, float] | None = None

    def target_hu(self, organ_hu: float, rng: np.random.Generator) -> float | None:
        """A lesion mean in HU drawn from the range (None for ``free``); one draw from ``rng`` otherwise."""
        if self.relative_hu is not None:
            return float(organ_hu + rng.uniform(*self.relative_hu))
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


LESION_TYPES: dict[str, LesionType] = {
    "hypodense": LesionType("hypodense", relative_hu=(-80.0, -20.0)),
    "hyperdense": LesionType("hyperdense", relative_hu=(15.0, 60.0)),
    "cystic": LesionType("cystic", absolute_hu=(0.0, 20.0)),
    "free": LesionType("free"),
}
DEFAULT_LESION_TYPE = "hypodense"


def lesion_type(name: str) -> LesionType:
    """The type called ``name``; ValueError naming ``--lesion-type`` otherwise."""
    if name not in LESION_TYPES:
        raise ValueError(f"--lesion-type: expected one of {', '.join(LESION_TYPES)}, got {name!r}")
    return LESION_TYPES[name]
