"""One explicit label space: structure names <-> integer codes, each typed as organ or tumor.

Label maps in memory and in written files always use these codes, whatever the input layout
(AbdomenAtlas per-organ masks, nnU-Net/MSD multi-class files with their own numbering). Tumor
codes never reuse an organ code, so a synthetic lesion never reads as an organ.

======================  ====  =====
name                    code  kind
======================  ====  =====
background                 0  background
liver                      1  organ
spleen                     2  organ
kidney_left                3  organ
kidney_right               4  organ
kidney                     5  organ (side not given, e.g. KiTS)
pancreas                   6  organ
aorta                      7  organ
postcava                   8  organ (inferior vena cava)
stomach                    9  organ
gall_bladder              10  organ
spine                     11  organ (vertebrae)
muscle                    12  organ
fat                       13  organ (subcutaneous and around organs)
body                      14  organ (other soft tissue inside the body)
bowel_gas                 15  organ
tumor                     16  tumor (the first code after the organs: nnU-Net wants consecutive codes)
======================  ====  =====
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

LabelKind = Literal["background", "organ", "tumor"]


@dataclass(frozen=True)
class Label:
    """A structure: ``name`` (lower case, underscores), ``code`` in 0..255 and its ``kind``."""

    name: str
    code: int
    kind: LabelKind


class LabelSpace:
    """A fixed set of labels with unique names and codes, code 0 = background, one tumor label.

    Parameters
    ----------
    labels : sequence of Label
    aliases : dict of str to str
        Other spellings found in datasets (normalised: lower case, underscores) -> label name.
    """

    def __init__(self, labels: Sequence[Label], aliases: dict[str, str] | None = None):
        names = [label.name for label in labels]
        codes = [label.code for label in labels]
        if len(set(names)) != len(names) or len(set(codes)) != len(codes):
            raise ValueError("label space: names and codes must be unique")
        if any(not 0 <= code <= 255 for code in codes):
            raise ValueError("label space: codes must lie in 0..255 (stored as uint8)")
        kinds = [label.kind for label in labels]
        if kinds.count("tumor") != 1 or kinds.count("background") != 1 or \
                next(label.code for label in labels if label.kind == "background") != 0:
            raise ValueError("label space: expected one background label with code 0 and exactly one tumor label")
        self.labels = tuple(labels)
        self._by_name = {label.name: label for label in labels}
        self._by_code = {label.code: label for label in labels}
        self.aliases = dict(aliases or {})
        unknown = sorted(set(self.aliases.values()) - set(self._by_name))
        if unknown:
            raise ValueError(f"label space: aliases point to unknown labels {unknown}")

    @property
    def organs(self) -> tuple[str, ...]:
        """Names of the organ labels, in code order."""
        return tuple(label.name for label in self.labels if label.kind == "organ")

    @property
    def tumor_code(self) -> int:
        return next(label.code for label in self.labels if label.kind == "tumor")

    def resolve(self, name: str) -> str | None:
        """The label name for a dataset's spelling (case, spaces, hyphens and aliases ignored), or None."""
        key = re.sub(r"[\s\-]+", "_", name.strip().lower())
        key = self.aliases.get(key, key)
        return key if key in self._by_name else None

    def code(self, name: str) -> int:
        """The code of ``name`` (any accepted spelling); ValueError listing the organs if unknown."""
        resolved = self.resolve(name)
        if resolved is None:
            raise ValueError(f"unknown structure {name!r} (known organs: {', '.join(self.organs)})")
        return self._by_name[resolved].code

    def organ_code(self, name: str) -> int:
        """Like ``code`` but only for organs (a lesion's host)."""
        code = self.code(name)
        if self._by_code[code].kind != "organ":
            raise ValueError(f"{name!r} is not an organ (organs: {', '.join(self.organs)})")
        return code

    def name(self, code: int) -> str:
        if int(code) not in self._by_code:
            raise ValueError(f"label code {code} is not in the label space")
        return self._by_code[int(code)].name

    def as_dict(self) -> dict[str, int]:
        """name -> code, for JSON sidecars."""
        return {label.name: label.code for label in self.labels}


DEFAULT_LABELS = LabelSpace(
    [Label("background", 0, "background"), Label("liver", 1, "organ"), Label("spleen", 2, "organ"),
     Label("kidney_left", 3, "organ"), Label("kidney_right", 4, "organ"), Label("kidney", 5, "organ"),
     Label("pancreas", 6, "organ"), Label("aorta", 7, "organ"), Label("postcava", 8, "organ"),
     Label("stomach", 9, "organ"), Label("gall_bladder", 10, "organ"), Label("spine", 11, "organ"),
     Label("muscle", 12, "organ"), Label("fat", 13, "organ"), Label("body", 14, "organ"),
     Label("bowel_gas", 15, "organ"), Label("tumor", 16, "tumor")],
    aliases={"left_kidney": "kidney_left", "kidney_l": "kidney_left", "right_kidney": "kidney_right",
             "kidney_r": "kidney_right", "kidneys": "kidney", "ivc": "postcava", "inferior_vena_cava": "postcava",
             "gallbladder": "gall_bladder", "vertebrae": "spine", "bone": "spine", "subcutaneous_fat": "fat",
             "visceral_fat": "fat",
             "cancer": "tumor", "tumour": "tumor", "lesion": "tumor", "liver_tumor": "tumor",
             "pancreas_tumor": "tumor", "pancreatic_tumor": "tumor", "kidney_tumor": "tumor", "liver_lesion": "tumor",
             "pancreatic_lesion": "tumor", "kidney_lesion": "tumor", "bg": "background"},
)
