"""The codes of written label maps: the input's codes kept, the tumour's code documented and configurable.

==========================  ==============================================  =======================================
input                       codes written                                   tumour code (default)
==========================  ==============================================  =======================================
nnU-Net / MSD               the label file's own codes, for every structure  the input's tumour label when it has one
                            of its ``dataset.json`` (known or not)           (a name meaning tumour: ``tumor``,
                                                                             ``cancer``, ``liver_tumor``...), else one
                                                                             above its largest code
AbdomenAtlas, NIfTI,        the project's label space (``ct/labels.py``:     16 (one above the organs)
DICOM, phantom, demo        background 0, organs 1-15)
==========================  ==============================================  =======================================

``tumor_code`` (``--tumor-code N``) gives the synthetic lesions the code N instead: 1..255, not the code
of another structure; a code the table does not have is added as ``tumor`` (``synthetic_tumor`` if
that name is taken). The defaults keep the codes consecutive, as nnU-Net v2 requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from projdiff.apps.tumor.ct.cases import Case

MAX_CODE = 255


@dataclass(frozen=True)
class LabelTable:
    """Code -> structure name of the written label maps (background 0 included), and the tumour's code."""

    names: dict[int, str]
    tumor_code: int

    @classmethod
    def for_case(cls, case: Case, tumor_code: int | None = None) -> "LabelTable":
        """The table of ``case``'s outputs (see the module docstring); ValueError naming ``--tumor-code``."""
        space = case.label_space
        if case.source is not None and case.source.codes is not None:
            names = dict(sorted(case.source.names.items()))
            tumours = [code for code, name in names.items() if space.resolve(name) == space.name(space.tumor_code)]
            default = tumours[0] if tumours else max(names) + 1
        else:
            names = {label.code: label.name for label in space.labels if label.kind != "tumor"}
            tumours, default = [], space.tumor_code
        code = default if tumor_code is None else int(tumor_code)
        if not 1 <= code <= MAX_CODE:
            raise ValueError(f"--tumor-code: expected a label code in 1..{MAX_CODE}, got {code}")
        if code in names and code not in tumours:
            free = next(c for c in range(1, MAX_CODE + 1) if c not in names)
            raise ValueError(f"--tumor-code: {code} is the code of {names[code]!r} in the input's labels; choose a "
                             f"free code (e.g. {free})")
        if code not in names:
            names[code] = "synthetic_tumor" if "tumor" in names.values() else "tumor"
        return cls(dict(sorted(names.items())), code)

    @property
    def dtype(self) -> type:
        """uint8, or uint16 when a code exceeds 255 (input files with large codes)."""
        return np.uint8 if max(self.names) <= 255 else np.uint16

    def as_dict(self) -> dict[str, int]:
        """name -> code (the nnU-Net v2 ``dataset.json`` form)."""
        return {name: code for code, name in self.names.items()}

    def label_map(self, case: Case, lesions: np.ndarray) -> np.ndarray:
        """(D, H, W) codes of ``case``'s labels with the synthetic ``lesions`` (bool mask) set to the tumour code.

        nnU-Net input: the file's codes. Others: the label-space codes, tumours (input or synthetic) at
        ``tumor_code``.
        """
        space = case.label_space
        if case.source is not None and case.source.codes is not None:
            codes = case.source.codes.astype(self.dtype, copy=True)
        else:
            codes = np.where(case.labels == space.tumor_code, self.tumor_code, case.labels).astype(self.dtype)
        codes[lesions] = self.tumor_code
        return codes
