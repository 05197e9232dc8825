"""The files of a tumor synthesis, in one of three layouts.

Per case, in the input's grid and orientation, every file written atomically (``NAME`` = the case id):

=============  ==============================================  ==============================================
layout         CT (HU, int16) and labels                       lesion sidecars, figures and summary
=============  ==============================================  ==============================================
``flat``       ``NAME_ct.nii.gz``, ``NAME_labels.nii.gz``      ``NAME_lesionK.json``, ``NAME_lesionK.png``,
(default)                                                      ``NAME_summary.json``
``nnunet``     ``imagesTr/NAME_0000.nii.gz``,                  ``lesions/NAME_lesionK.json`` / ``.png``,
               ``labelsTr/NAME.nii.gz``; ``dataset.json``      ``lesions/NAME_summary.json``
               once the dataset is complete (``dataset.py``)
``abdomen``    ``NAME/ct.nii.gz``, ``NAME/segmentations/``     ``NAME/lesions/lesionK.json`` / ``.png``,
``atlas``      ``<structure>.nii.gz`` (0/1, uint8) and the     ``NAME/lesions/summary.json``
               lesion mask ``<organ>_lesion.nii.gz``
=============  ==============================================  ==============================================

Label maps hold the codes of ``label_table.LabelTable`` (the input's codes kept; the tumour's code
documented there and set by ``--tumor-code``). AbdomenAtlas layout: every structure gets its own
0/1 mask (an AbdomenAtlas input's mask files are copied unchanged); the lesion mask is named as
AbdomenAtlas names its lesion masks (``liver_lesion``, ``pancreatic_lesion``, ``kidney_lesion``;
``<organ>_lesion`` for other organs) and holds the synthetic lesions plus the lesions the input
already had there (that file of an AbdomenAtlas input, or the input's tumour labels).

The sidecar ``lesionK.json``: seed, size, centre (canonical and on-disk voxel index, world RAS mm),
backend and its checkpoint (``prior_checkpoint``: source and SHA-256, for learned backends), the
label table and tumour code, the lesion's measured ``appearance`` (``lesion_stats``: contrast against
the organ around it and texture, HU), and the quality filter's record: ``scores`` (one entry per
attempt; None without a filter), ``accepted``, ``attempts``, ``threshold``, ``judge`` (source and
SHA-256) and, with a discriminator, ``realism_threshold`` and ``discriminator``. The figure
``lesionK.png``: a zoomed crop of the axial slice through the lesion's centre, before and after side by
side with nothing drawn over them, then the same crop with the organ (green) and lesion (red) outlined.
With a quality filter, the summary: acceptance per organ and size class (``acceptance_summary``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from projdiff.apps.tumor.ct.cases import Case
from projdiff.apps.tumor.ct.hu import HUWindow, to_int16
from projdiff.apps.tumor.ct.nifti import read_nifti, write_nifti
from projdiff.apps.tumor.label_table import LabelTable
from projdiff.apps.tumor.lesion_stats import lesion_statistics
from projdiff.apps.tumor.synthesis import QualityFilter, SynthesizedLesion, TumorResult, acceptance_summary
from projdiff.utils.figures import grid_png
from projdiff.utils.files import check_free, write_bytes, write_json

LAYOUTS = ("flat", "nnunet", "abdomenatlas")
LESION_FILES = {"liver": "liver_lesion", "pancreas": "pancreatic_lesion", "kidney": "kidney_lesion",
                "kidney_left": "kidney_lesion", "kidney_right": "kidney_lesion"}
FIGURE_MARGIN_MM = 15.0  # tissue shown around the lesion in the figures


def lesion_file(organ: str) -> str:
    """The AbdomenAtlas name of ``organ``'s lesion mask, without ``.nii.gz``."""
    return LESION_FILES.get(organ, f"{organ}_lesion")


def _structures(case: Case, organ: str) -> list[str]:
    """Names of the AbdomenAtlas-layout masks of ``case``: its structures, then the lesion mask."""
    space, source = case.label_space, case.source
    if source is not None and source.masks:
        names = list(source.masks)
    elif source is not None and source.codes is not None:
        names = [name for code, name in sorted(source.names.items()) if code != 0]
    else:
        names = [space.name(c) for c in np.unique(case.labels) if c not in (0, space.tumor_code)]
    return [n for n in names if n != lesion_file(organ)] + [lesion_file(organ)]


def output_paths(out: str | Path, case: Case, organ: str, count: int, layout: str = "flat",
                 summary: bool = False) -> dict[str, Path]:
    """Role -> path of a case's files: ``ct``; ``labels`` or ``mask:<structure>``; ``lesionK.json`` and
    ``lesionK.png`` per lesion; ``summary`` if ``summary``."""
    out, name = Path(out), case.name
    if layout == "flat":
        paths = {"ct": out / f"{name}_ct.nii.gz", "labels": out / f"{name}_labels.nii.gz"}
        lesions, prefix = out, f"{name}_"
    elif layout == "nnunet":
        paths = {"ct": out / "imagesTr" / f"{name}_0000.nii.gz", "labels": out / "labelsTr" / f"{name}.nii.gz"}
        lesions, prefix = out / "lesions", f"{name}_"
    elif layout == "abdomenatlas":
        paths = {"ct": out / name / "ct.nii.gz"}
        paths.update({f"mask:{s}": out / name / "segmentations" / f"{s}.nii.gz" for s in _structures(case, organ)})
        lesions, prefix = out / name / "lesions", ""
    else:
        raise ValueError(f"--layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    for k in range(1, count + 1):
        paths.update({f"lesion{k}{suffix}": lesions / f"{prefix}lesion{k}{suffix}" for suffix in (".json", ".png")})
    if summary:
        paths["summary"] = lesions / f"{prefix}summary.json"
    return paths


def _crop_box(lesion: np.ndarray, spacing: tuple[float, float]) -> tuple[slice, slice]:
    """A square in-plane box (mm) around the lesion's slice mask, with ``FIGURE_MARGIN_MM`` of tissue around."""
    rows, cols = np.flatnonzero(lesion.any(axis=1)), np.flatnonzero(lesion.any(axis=0))
    centre = ((rows[0] + rows[-1]) / 2.0, (cols[0] + cols[-1]) / 2.0)
    half_mm = max((rows[-1] - rows[0] + 1) * spacing[0], (cols[-1] - cols[0] + 1) * spacing[1]) / 2 + FIGURE_MARGIN_MM
    return tuple(slice(max(int(round(c - half_mm / s)), 0), min(int(round(c + half_mm / s)) + 1, n))
                 for c, s, n in zip(centre, spacing, lesion.shape))


def lesion_figure(before: np.ndarray, after: np.ndarray, organ: np.ndarray, lesion: np.ndarray,
                  spacing: tuple[float, float], title: str, window: HUWindow) -> bytes:
    """PNG: a crop around ``lesion`` of one axial slice (H, W) in HU: before, after, after with outlines."""
    box = _crop_box(lesion, spacing)
    gray = [torch.from_numpy(np.repeat(window.to_unit(image[box])[None], 3, axis=0)) for image in (before, after)]
    outlined = gray[1].clone().numpy()
    for mask, colour in ((organ[box], (0.1, 0.9, 0.1)), (lesion[box], (1.0, 0.15, 0.1))):
        edge = mask & ~ndimage.binary_erosion(mask)
        outlined[:, edge] = np.asarray(colour, np.float32)[:, None]
    return grid_png([("before", gray[0]), (title, gray[1]), ("outlined", torch.from_numpy(outlined))])


def _sidecar(result: TumorResult, k: int, lesion: SynthesizedLesion, table: LabelTable, layout: str,
             organ: np.ndarray) -> dict:
    case, p = result.case, lesion.placement
    spacing = case.ct.spacing
    return {"case": case.name, "input": case.ct.source, "input_layout": case.layout, "layout": layout,
            "organ": result.organ, "lesion": k, "backend": lesion.backend, "lesion_type": result.lesion_type,
            "seed": result.seed, "lesion_seed": p.seed, "size_range_mm": list(result.size_mm),
            "radius_mm": round(p.radius_mm, 3), "semi_axes_mm": [round(a, 3) for a in p.semi_axes_mm],
            "size_class": p.size_class, "centre_erosion_mm": round(p.erosion_mm, 3), "voxels": int(p.mask.sum()),
            "volume_ml": round(float(p.mask.sum()) * float(np.prod(spacing)) / 1000.0, 4),
            "centre_voxel": list(case.ct.grid.disk_index(p.centre)), "centre_voxel_canonical": list(p.centre),
            "centre_world_mm": [round(v, 3) for v in case.ct.grid.world(p.centre)],
            "spacing_mm": [round(s, 6) for s in spacing], "label_code": table.tumor_code,
            "labels": table.as_dict(),
            "appearance": {key: round(v, 2) for key, v in
                           lesion_statistics(result.ct_hu, p.mask, organ & ~p.mask, spacing).items()},
            "prior_checkpoint": result.backend_checkpoint, "scores": lesion.scores, "accepted": lesion.accepted,
            "attempts": len(lesion.scores) if lesion.scores is not None else 1, **_filter_record(result.quality)}


def _filter_record(q: QualityFilter | None) -> dict:
    """The quality filter's settings and judges as recorded in sidecars and summaries."""
    record = {"threshold": q.threshold if q else None, "judge": q.judge.checkpoint if q else None}
    if q is not None and q.discriminator is not None:
        record.update(realism_threshold=q.realism_threshold, discriminator=q.discriminator.checkpoint)
    return record


def _summary(result: TumorResult) -> dict:
    q = result.quality
    records = [(result.organ, les.placement.size_class, les.accepted, len(les.scores)) for les in result.lesions]
    return {"case": result.case.name, "organ": result.organ, "backend": result.lesions[0].backend,
            "prior_checkpoint": result.backend_checkpoint, **_filter_record(q), "retries": q.retries,
            "acceptance": acceptance_summary(records)}


def _lesion_mask(result: TumorResult, table: LabelTable, name: str) -> np.ndarray:
    """The AbdomenAtlas lesion mask: the synthetic lesions and the input's lesions there."""
    case = result.case
    mask = result.lesion_mask.copy()
    source = case.source
    if source is not None and name in source.masks:
        mask |= read_nifti(source.masks[name], labels=True).array > 0
    elif not (source is not None and source.masks):
        mask |= table.label_map(case, mask) == table.tumor_code
    return mask


def write_tumor_outputs(out: str | Path, result: TumorResult, layout: str = "flat", table: LabelTable | None = None,
                        overwrite: bool = False, window: HUWindow | None = None) -> dict[str, Path]:
    """Write a case's files (module docstring); FileExistsError first if any exists and not ``overwrite``.

    ``table`` defaults to ``LabelTable.for_case(result.case)``; ``window`` is the HU display window of
    the figures (default ``HUWindow()``, [-175, 250]). Returns ``output_paths``.
    """
    window = window or HUWindow()
    case = result.case
    table = table or LabelTable.for_case(case)
    paths = output_paths(out, case, result.organ, len(result.lesions), layout, summary=result.quality is not None)
    check_free(paths.values(), overwrite)
    grid, header = case.ct.grid, case.ct.header
    write_nifti(paths["ct"], to_int16(result.ct_hu), grid, np.int16, header)
    if "labels" in paths:
        write_nifti(paths["labels"], table.label_map(case, result.lesion_mask), grid, table.dtype, header)
    lesion_name = lesion_file(result.organ)
    for role, path in paths.items():
        if not role.startswith("mask:"):
            continue
        name = role[len("mask:"):]
        source = case.source
        if name == lesion_name:
            write_nifti(path, _lesion_mask(result, table, name), grid, np.uint8, header)
        elif source is not None and name in source.masks:
            write_bytes(path, source.masks[name].read_bytes())        # the input's mask, unchanged
        else:
            codes = source.codes if source is not None and source.codes is not None else case.labels
            code = table.as_dict()[name] if source is not None and source.codes is not None else \
                case.label_space.code(name)
            write_nifti(path, codes == code, grid, np.uint8, header)
    organ = case.organ_mask(result.organ)
    spacing = case.ct.spacing
    for k, lesion in enumerate(result.lesions, start=1):
        write_json(paths[f"lesion{k}.json"], _sidecar(result, k, lesion, table, layout, organ))
        d = lesion.placement.centre[0]
        title = f"lesion {k}, {lesion.backend}" + ("" if lesion.accepted else " (dropped)")
        write_bytes(paths[f"lesion{k}.png"], lesion_figure(case.ct.array[d], result.ct_hu[d], organ[d],
                                                           lesion.placement.mask[d], spacing[1:], title, window))
    if result.quality is not None:
        write_json(paths["summary"], _summary(result))
    return paths
