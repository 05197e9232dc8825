"""Tumor-in-CT synthesis: place lesion masks in an organ, draw them with a backend, write the files.

Per case the outputs in ``out`` are, all in the input's grid and orientation and written atomically:

- ``NAME_ct.nii.gz``: the CT with the lesions, HU, int16;
- ``NAME_labels.nii.gz``: the case's labels (``DEFAULT_LABELS`` codes) with the lesions set to the
  tumor code, uint8;
- ``NAME_lesionK.json`` (K = 1, 2, ...): seed, size, centre (canonical and on-disk voxel index,
  world RAS mm), backend, ``scores`` (None until a quality filter scores it) and ``accepted``;
- ``NAME_lesionK.png``: the axial slice through the lesion's centre, before and after, with the
  organ (green) and lesion (red) outlines.

Lesion k of a case uses the seed ``derive_seed("tumor", seed, case name, organ, k)`` for its mask
and ``derive_seed("appearance", that seed)`` for its appearance, so it does not depend on the
other lesions' draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from scipy import ndimage

from projdiff.atomic import write_bytes, write_json
from projdiff.engine.noise import derive_seed
from projdiff.tasks.ct.cases import Case
from projdiff.tasks.ct.hu import HUWindow, to_int16
from projdiff.tasks.ct.nifti import write_nifti
from projdiff.tasks.ct.volume import require_3d
from projdiff.tasks.handcrafted_lesion import HandcraftedLesion
from projdiff.tasks.lesion_backend import LesionSynthesizer, lesion_box
from projdiff.tasks.lesion_masks import LesionMask, sample_lesion_masks
from projdiff.tasks.outputs import check_free, grid_png

BACKENDS: dict[str, Callable[[], LesionSynthesizer]] = {"handcrafted": HandcraftedLesion}
CROP_MARGIN = 8  # voxels around a lesion's bounding box that a backend sees


@dataclass(eq=False)
class SynthesizedLesion:
    """A lesion drawn into the CT; ``scores``/``accepted`` are for a later quality filter."""

    placement: LesionMask
    backend: str
    scores: dict | None = None
    accepted: bool = True


@dataclass(eq=False)
class TumorResult:
    """The case with its lesions: ``ct_hu`` (D, H, W) float32 HU, ``labels`` (D, H, W) uint8."""

    case: Case
    organ: str
    ct_hu: np.ndarray
    labels: np.ndarray
    seed: int
    size_mm: tuple[float, float]
    lesions: list[SynthesizedLesion] = field(default_factory=list)


def make_backend(name: str) -> LesionSynthesizer:
    if name not in BACKENDS:
        raise ValueError(f"--backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    return BACKENDS[name]()


def synthesize_tumors(case: Case, organ: str, count: int, size_mm: tuple[float, float],
                      backend: LesionSynthesizer, seed: int = 0) -> TumorResult:
    """Place ``count`` lesions of radius ``size_mm`` (mm) in ``organ`` and draw them with ``backend``.

    Raises ValueError for a 2D case, an unknown or empty organ, or no room for the lesions.
    """
    require_3d(case.ct)
    organ_mask = case.organ_mask(organ)
    seeds = [derive_seed("tumor", seed, case.name, organ, k) for k in range(count)]
    placements = sample_lesion_masks(organ_mask, case.ct.spacing, count, size_mm, seeds, organ)
    ct = case.ct.array.astype(np.float32, copy=True)
    labels = case.labels.copy()
    result = TumorResult(case, organ, ct, labels, seed, size_mm)
    for placement in placements:
        box = lesion_box(placement.mask, CROP_MARGIN)
        generator = np.random.default_rng(derive_seed("appearance", placement.seed))
        ct[box] = backend.synthesize(ct[box], placement.mask[box], organ_mask[box], generator)
        labels[placement.mask] = case.label_space.tumor_code
        result.lesions.append(SynthesizedLesion(placement, backend.name))
    return result


def output_paths(out: str | Path, name: str, count: int) -> list[Path]:
    """CT, labels, then a JSON and a PNG per lesion."""
    out = Path(out)
    lesion_files = [out / f"{name}_lesion{k}{suffix}" for k in range(1, count + 1) for suffix in (".json", ".png")]
    return [out / f"{name}_ct.nii.gz", out / f"{name}_labels.nii.gz"] + lesion_files


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
            "labels": case.label_space.as_dict(), "scores": lesion.scores, "accepted": lesion.accepted}


def write_tumor_outputs(out: str | Path, result: TumorResult, overwrite: bool = False,
                        window: HUWindow | None = None) -> list[Path]:
    """Write the files listed in the module docstring; FileExistsError first if any exists.

    ``window`` is the HU display window of the PNGs (default ``HUWindow()``, [-175, 250]).
    """
    window = window or HUWindow()
    case = result.case
    paths = output_paths(out, case.name, len(result.lesions))
    check_free(paths, overwrite)
    write_nifti(paths[0], to_int16(result.ct_hu), case.ct.grid, np.int16, case.ct.header)
    write_nifti(paths[1], result.labels, case.ct.grid, np.uint8, case.ct.header)
    organ = case.organ_mask(result.organ)
    for k, lesion in enumerate(result.lesions, start=1):
        write_json(paths[2 * k], _sidecar(result, k, lesion))
        d = lesion.placement.centre[0]
        after = _overlay(result.ct_hu[d], organ[d], lesion.placement.mask[d], window)
        panels = [("input", _overlay(case.ct.array[d], organ[d], np.zeros_like(organ[d]), window)),
                  (f"lesion {k} ({lesion.backend})", after)]
        write_bytes(paths[2 * k + 1], grid_png(panels))
    return paths
