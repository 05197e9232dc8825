"""The files of a tumor synthesis.

Per case the outputs in ``out`` are, all in the input's grid and orientation and written atomically:

- ``NAME_ct.nii.gz``: the CT with the lesions, HU, int16;
- ``NAME_labels.nii.gz``: the case's labels (``DEFAULT_LABELS`` codes) with the lesions set to the
  tumor code, uint8;
- ``NAME_lesionK.json`` (K = 1, 2, ...): seed, size, centre (canonical and on-disk voxel index,
  world RAS mm), backend and its checkpoint (``prior_checkpoint``: source and SHA-256, for learned
  backends), and the quality filter's record: ``scores`` (one entry per attempt; None without a
  filter), ``accepted``, ``attempts``, ``threshold``, ``judge`` (source and SHA-256) and, with a
  discriminator, ``realism_threshold`` and ``discriminator``;
- ``NAME_lesionK.png``: the axial slice through the lesion's centre, before and after, with the
  organ (green) and lesion (red) outlines;
- with a quality filter, ``NAME_summary.json``: acceptance per organ and size class
  (``acceptance_summary``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from projdiff.apps.tumor.ct.hu import HUWindow, to_int16
from projdiff.apps.tumor.ct.nifti import write_nifti
from projdiff.apps.tumor.synthesis import QualityFilter, SynthesizedLesion, TumorResult, acceptance_summary
from projdiff.utils.figures import grid_png
from projdiff.utils.files import check_free, write_bytes, write_json


def output_paths(out: str | Path, name: str, count: int, summary: bool = False) -> list[Path]:
    """CT, labels, then a JSON and a PNG per lesion, then the summary JSON if ``summary``."""
    out = Path(out)
    lesion_files = [out / f"{name}_lesion{k}{suffix}" for k in range(1, count + 1) for suffix in (".json", ".png")]
    return [out / f"{name}_ct.nii.gz", out / f"{name}_labels.nii.gz"] + lesion_files + \
        ([out / f"{name}_summary.json"] if summary else [])


def _overlay(hu: np.ndarray, organ: np.ndarray, lesion: np.ndarray, window: HUWindow) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1]: a windowed axial slice with organ (green) and lesion (red) outlines."""
    rgb = np.repeat(window.to_unit(hu)[None], 3, axis=0)
    for mask, colour in ((organ, (0.1, 0.9, 0.1)), (lesion, (1.0, 0.15, 0.1))):
        edge = mask & ~ndimage.binary_erosion(mask)
        rgb[:, edge] = np.asarray(colour, np.float32)[:, None]
    return torch.from_numpy(rgb)


def _sidecar(result: TumorResult, k: int, lesion: SynthesizedLesion) -> dict:
    case, p = result.case, lesion.placement
    spacing = case.ct.spacing
    return {"case": case.name, "input": case.ct.source, "layout": case.layout, "organ": result.organ,
            "lesion": k, "backend": lesion.backend, "seed": result.seed, "lesion_seed": p.seed,
            "size_range_mm": list(result.size_mm), "radius_mm": round(p.radius_mm, 3),
            "semi_axes_mm": [round(a, 3) for a in p.semi_axes_mm], "size_class": p.size_class,
            "centre_erosion_mm": round(p.erosion_mm, 3), "voxels": int(p.mask.sum()),
            "volume_ml": round(float(p.mask.sum()) * float(np.prod(spacing)) / 1000.0, 4),
            "centre_voxel": list(case.ct.grid.disk_index(p.centre)), "centre_voxel_canonical": list(p.centre),
            "centre_world_mm": [round(v, 3) for v in case.ct.grid.world(p.centre)],
            "spacing_mm": [round(s, 6) for s in spacing], "label_code": case.label_space.tumor_code,
            "labels": case.label_space.as_dict(), "prior_checkpoint": result.backend_checkpoint,
            "scores": lesion.scores, "accepted": lesion.accepted,
            "attempts": len(lesion.scores) if lesion.scores is not None else 1,
            **_filter_record(result.quality)}


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


def write_tumor_outputs(out: str | Path, result: TumorResult, overwrite: bool = False,
                        window: HUWindow | None = None) -> list[Path]:
    """Write the files listed in the module docstring; FileExistsError first if any exists.

    ``window`` is the HU display window of the PNGs (default ``HUWindow()``, [-175, 250]).
    """
    window = window or HUWindow()
    case = result.case
    paths = output_paths(out, case.name, len(result.lesions), summary=result.quality is not None)
    check_free(paths, overwrite)
    write_nifti(paths[0], to_int16(result.ct_hu), case.ct.grid, np.int16, case.ct.header)
    write_nifti(paths[1], result.labels, case.ct.grid, np.uint8, case.ct.header)
    organ = case.organ_mask(result.organ)
    for k, lesion in enumerate(result.lesions, start=1):
        write_json(paths[2 * k], _sidecar(result, k, lesion))
        d = lesion.placement.centre[0]
        after = _overlay(result.ct_hu[d], organ[d], lesion.placement.mask[d], window)
        title = f"lesion {k} ({lesion.backend})" + ("" if lesion.accepted else " dropped")
        panels = [("input", _overlay(case.ct.array[d], organ[d], np.zeros_like(organ[d]), window)), (title, after)]
        write_bytes(paths[2 * k + 1], grid_png(panels))
    if result.quality is not None:
        write_json(paths[-1], _summary(result))
    return paths
