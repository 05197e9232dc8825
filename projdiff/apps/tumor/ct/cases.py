"""Cases: a CT plus a label map in the project's label space, from the common dataset layouts.

==========================  ===================================================================
``--ct`` points to          layout
==========================  ===================================================================
folder with ``ct.nii.gz``   AbdomenAtlas: ``CASE/ct.nii.gz`` + ``CASE/segmentations/<organ>.nii.gz``
                            (binary masks named after the structure)
``imagesTr/<case>_0000.nii.gz`` or ``imagesTr/<case>.nii.gz``
                            nnU-Net / Medical Segmentation Decathlon: labels in
                            ``labelsTr/<case>.nii.gz`` (``imagesTs`` -> ``labelsTs``), names from
                            ``dataset.json`` (``{"liver": 1}`` or MSD's ``{"1": "liver"}``)
other ``.nii`` / ``.nii.gz``  a CT without labels (give ``organ_mask``)
folder of DICOM files       one DICOM series without labels
other file                  one DICOM slice
==========================  ===================================================================

Label names are matched to ``LabelSpace`` names and aliases; structures the label space does not
know are left out (as background) and reported in ``Case.notes``. The input's own labels are kept
beside them (``Case.source``: the nnU-Net file's codes and names, or the AbdomenAtlas mask files),
so that outputs can keep the input's codes and structures. Every mask must lie on the CT's grid
(same shape, affine within 0.001 mm). Input files are only read.

A folder of cases (``dataset_cases``): an nnU-Net / MSD dataset (``imagesTr/`` beside ``labelsTr/``
and ``dataset.json``; one image per case) or a folder of AbdomenAtlas case folders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from projdiff.apps.tumor.ct.dicom import read_dicom_file, read_dicom_series
from projdiff.apps.tumor.ct.hu import check_hu
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS, LabelSpace
from projdiff.apps.tumor.ct.nifti import is_nifti, read_nifti
from projdiff.apps.tumor.ct.volume import Volume


@dataclass(eq=False)
class SourceLabels:
    """The input's own labels, as stored.

    Attributes
    ----------
    names : dict of int to str
        nnU-Net / MSD: code -> structure name, as in ``dataset.json`` (every entry, known or not).
    codes : ndarray, shape (D, H, W), int32, optional
        nnU-Net / MSD: the label file's codes (canonical layout).
    masks : dict of str to Path
        AbdomenAtlas: structure name -> its mask file (every file of ``segmentations/``).
    dataset : dict
        nnU-Net / MSD: the parsed ``dataset.json`` (for its channel names).
    """

    names: dict[int, str] = field(default_factory=dict)
    codes: np.ndarray | None = None
    masks: dict[str, Path] = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)


@dataclass(eq=False)
class Case:
    """A CT with its labels.

    Parameters
    ----------
    name : str
        Case id, used to name outputs.
    ct : Volume
        HU, float32, canonical (D, H, W).
    labels : ndarray, shape (D, H, W), uint8
        Codes of ``label_space``; 0 where nothing is labelled.
    layout : str
        ``abdomenatlas``, ``nnunet``, ``nifti``, ``dicom`` or ``phantom``.
    source : SourceLabels, optional
        The input's own labels (nnU-Net and AbdomenAtlas inputs).
    """

    name: str
    ct: Volume
    labels: np.ndarray
    layout: str
    label_space: LabelSpace = DEFAULT_LABELS
    notes: list[str] = field(default_factory=list)
    source: SourceLabels | None = None

    def organ_mask(self, organ: str) -> np.ndarray:
        """(D, H, W) bool mask of ``organ``; ValueError if the case has no voxel of it."""
        code = self.label_space.organ_code(organ)
        mask = self.labels == code
        if not mask.any():
            present = sorted({self.label_space.name(c) for c in np.unique(self.labels) if c != 0})
            raise ValueError(f"{self.ct.source}: organ {organ!r} is empty (labelled here: "
                             f"{', '.join(present) or 'nothing'})")
        return mask


def _check_same_grid(mask: Volume, ct: Volume) -> None:
    if mask.grid.shape != ct.grid.shape:
        raise ValueError(f"{mask.source}: grid does not match the CT {ct.source}: shape {mask.grid.shape} "
                         f"vs {ct.grid.shape}")
    if not mask.grid.same_as(ct.grid):
        worst = float(np.abs(mask.grid.affine - ct.grid.affine).max())
        raise ValueError(f"{mask.source}: grid does not match the CT {ct.source}: affines differ by up to "
                         f"{worst:.4g} mm")


def _read_ct(path: Path, check: bool) -> Volume:
    if path.is_dir():
        ct = read_dicom_series(path)
    elif is_nifti(path):
        ct = read_nifti(path)
    else:
        ct = read_dicom_file(path)
    if check:
        check_hu(ct.array, ct.source)
    return ct


def _abdomenatlas(folder: Path, check: bool, space: LabelSpace) -> Case:
    ct_path = folder / "ct.nii.gz" if (folder / "ct.nii.gz").is_file() else folder / "ct.nii"
    ct = _read_ct(ct_path, check)
    labels = np.zeros(ct.array.shape, np.uint8)
    notes = []
    masks = sorted((folder / "segmentations").glob("*.nii*")) if (folder / "segmentations").is_dir() else []
    if not masks:
        notes.append(f"{folder}: no segmentations/<organ>.nii.gz masks")
    known, files = [], {}
    for path in masks:
        name = re.sub(r"\.nii(\.gz)?$", "", path.name)
        files[name] = path
        if space.resolve(name) is None:
            notes.append(f"{path}: structure {name!r} is not in the label space; left out")
            continue
        known.append((space.code(name), path))
    for code, path in sorted(known, key=lambda item: (item[0] == space.tumor_code, item[0])):  # tumors last
        mask = read_nifti(path, labels=True)
        _check_same_grid(mask, ct)
        labels[mask.array > 0] = code
    return Case(folder.name, ct, labels, "abdomenatlas", space, notes, SourceLabels(masks=files))


def _dataset_labels(path: Path) -> tuple[dict[int, str], dict]:
    """dataset.json label names by file code (nnU-Net v2 ``{name: code}`` or MSD ``{"code": name}``),
    and the parsed file."""
    try:
        dataset = json.loads(path.read_text())
        names = dataset["labels"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read the 'labels' of dataset.json ({type(exc).__name__}: {exc})") from None
    if isinstance(names, dict) and names and all(str(k).isdigit() for k in names):
        return {int(k): str(v) for k, v in names.items()}, dataset
    if isinstance(names, dict) and all(isinstance(v, int) for v in names.values()):
        return {int(v): str(k) for k, v in names.items()}, dataset
    raise ValueError(f"{path}: 'labels' must map names to single integer codes (region labels are not supported)")


def _nnunet(image: Path, check: bool, space: LabelSpace) -> Case:
    root = image.parent.parent
    case = case_name(image)
    label_dir = root / image.parent.name.replace("images", "labels", 1)
    label_path = next((p for p in (label_dir / f"{case}.nii.gz", label_dir / f"{case}.nii") if p.is_file()), None)
    if label_path is None:
        raise FileNotFoundError(f"{label_dir / (case + '.nii.gz')}: no such file (labels of {image})")
    if not (root / "dataset.json").is_file():
        raise FileNotFoundError(f"{root / 'dataset.json'}: no such file (label names of {image})")
    names, dataset = _dataset_labels(root / "dataset.json")
    ct = _read_ct(image, check)
    mask = read_nifti(label_path, labels=True)
    _check_same_grid(mask, ct)
    notes = []
    values = np.unique(mask.array)
    lut = np.zeros(int(max(values.max(), max(names, default=0))) + 1, np.uint8)
    for value in values:
        if value < 0 or int(value) not in names:
            raise ValueError(f"{label_path}: label value {value} is not listed in {root / 'dataset.json'}")
        resolved = space.resolve(names[int(value)])
        if resolved is None:
            notes.append(f"{root / 'dataset.json'}: structure {names[int(value)]!r} is not in the label space; "
                         "left out")
        else:
            lut[int(value)] = space.code(resolved)
    return Case(case, ct, lut[mask.array], "nnunet", space, notes, SourceLabels(names, mask.array, dataset=dataset))


def _is_nnunet_image(path: Path) -> bool:
    return is_nifti(path) and path.parent.name.startswith("images") and \
        (path.parent.parent / path.parent.name.replace("images", "labels", 1)).is_dir()


def case_name(path: str | Path) -> str:
    """The case id of an input, used to name its outputs (without reading it).

    An AbdomenAtlas or DICOM folder: its name; an nnU-Net image: the name without the channel suffix
    and extension (``liver_7_0000.nii.gz`` -> ``liver_7``); another file: its name without extension.
    """
    path = Path(path)
    if path.is_dir():
        return path.name
    if _is_nnunet_image(path):
        return re.sub(r"(_\d{4})?\.nii(\.gz)?$", "", path.name)
    return re.sub(r"\.(nii(\.gz)?|dcm)$", "", path.name, flags=re.IGNORECASE)


def load_case(path: str | Path, organ: str | None = None, organ_mask: str | Path | None = None,
              check: bool = True, label_space: LabelSpace = DEFAULT_LABELS) -> Case:
    """Read a case from any supported layout (see the module docstring).

    Parameters
    ----------
    path : str or Path
        Case folder, image file, DICOM folder or DICOM file.
    organ : str, optional
        With ``organ_mask``: the structure the mask labels.
    organ_mask : str or Path, optional
        A NIfTI mask on the CT's grid (nonzero = ``organ``), written over the case's labels.
    check : bool
        Reject volumes that are not in HU (see ``check_hu``); default True.
    label_space : LabelSpace
        Default ``DEFAULT_LABELS``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir() and any((path / name).is_file() for name in ("ct.nii.gz", "ct.nii")):
        case = _abdomenatlas(path, check, label_space)
    elif path.is_dir() and (path / "imagesTr").is_dir():
        raise ValueError(f"{path}: a dataset folder holds many cases; give one image, e.g. "
                         f"{path / 'imagesTr'}/CASE_0000.nii.gz")
    elif _is_nnunet_image(path):
        case = _nnunet(path, check, label_space)
    else:
        ct = _read_ct(path, check)
        case = Case(case_name(path), ct, np.zeros(ct.array.shape, np.uint8), "dicom" if not is_nifti(path) else "nifti",
                    label_space)
    if organ_mask is not None:
        if organ is None:
            raise ValueError("organ_mask: name the organ it labels")
        mask = read_nifti(organ_mask, labels=True)
        _check_same_grid(mask, case.ct)
        values = [int(v) for v in np.unique(mask.array) if v != 0]
        if len(values) > 1:
            raise ValueError(f"{organ_mask}: holds {len(values)} labels ({', '.join(map(str, values[:8]))}), not one "
                             f"organ; give a binary mask (nonzero = the organ named by --organ)")
        case.labels[mask.array > 0] = label_space.organ_code(organ)
    return case


def dataset_cases(path: str | Path) -> list[Path] | None:
    """The cases of a dataset folder, or None when ``path`` is not one.

    nnU-Net / MSD (``imagesTr/`` beside ``labelsTr/``): one image per case (``<case>_0000.nii.gz`` or
    ``<case>.nii.gz``); ValueError for multi-channel datasets (``_0001`` files). A folder whose
    sub-folders hold ``ct.nii.gz``: those AbdomenAtlas case folders. Sorted by name.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    if (path / "imagesTr").is_dir() and (path / "labelsTr").is_dir():
        images = sorted(p for p in (path / "imagesTr").iterdir() if is_nifti(p) and not p.name.startswith("."))
        extra = [p for p in images if re.search(r"_(?!0000)\d{4}\.nii(\.gz)?$", p.name)]
        if extra:
            raise ValueError(f"{extra[0]}: a second image channel; only single-channel (CT) datasets are supported")
        return images
    folders = sorted(p for p in path.iterdir() if p.is_dir() and any((p / n).is_file() for n in ("ct.nii.gz", "ct.nii")))
    return folders or None
