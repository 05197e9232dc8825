"""Files a restoration writes, named after its input: ``shirt.png`` gives

``shirt_restored.png``, ``shirt_measurement.png``, ``shirt_grid.png`` and ``shirt_metrics.json``.

``NAME_measurement.png`` is the measurement at its own size (a 4x smaller image for ``sr4``, the
gray image for ``colorize``), so ``projdiff restore NAME_measurement.png --measurement`` with the
same task, settings and seed restores the same case; the grid shows it enlarged to the image's
size. For ``cs`` and ``phase``, whose measurement is not an image, it is the preview of the grid.
A restoration from a given measurement writes no measurement file (its input is one) and names
its outputs without the input's ``_measurement`` suffix.

Every file is written atomically; ``restore`` and ``run`` stage the whole set and publish it at
once (``job_store.JobStore``), so a set is either complete or absent.
"""

from __future__ import annotations

from pathlib import Path

import torch

from projdiff.apps.restoration.image_io import write_image
from projdiff.utils.figures import grid_png
from projdiff.utils.files import check_free, write_bytes, write_json

SUFFIXES = ("_restored.png", "_measurement.png", "_grid.png", "_metrics.json")
MEASUREMENT_SUFFIX = "_measurement"


def output_stem(input_path: str | Path, given_measurement: bool = False) -> str:
    """The name outputs start with: the input's stem, without ``_measurement`` for a given measurement."""
    stem = Path(input_path).stem
    return (stem.removesuffix(MEASUREMENT_SUFFIX) or stem) if given_measurement else stem


def output_paths(out_dir: str | Path, stem: str, given_measurement: bool = False) -> list[Path]:
    """The output files of an input named ``stem`` (three for a given measurement, else four)."""
    suffixes = [s for s in SUFFIXES if not (given_measurement and s == "_measurement.png")]
    return [Path(out_dir) / f"{stem}{suffix}" for suffix in suffixes]


def restoration_panels(restoration) -> list[tuple[str, torch.Tensor]]:
    """measurement | result | per-pixel std (several samples) | ground truth (when known)."""
    m = restoration.metrics
    title = "restored" + (f" {m['psnr']:.2f} dB" if "psnr" in m else "")
    panels = [("measurement", restoration.measurement), (title, restoration.restored)]
    if restoration.std is not None:
        std = restoration.std / restoration.std.max().clamp_min(1e-12)
        panels.append((f"std (max {float(restoration.std.max()):.3f})", std))
    if restoration.truth is not None:
        panels.append(("ground truth", restoration.truth))
    return panels


def write_restoration(out_dir: str | Path, stem: str, restoration, overwrite: bool = False,
                      given_measurement: bool = False) -> list[Path]:
    """Write the files of one restoration (see ``output_paths``); returns their paths."""
    paths = output_paths(out_dir, stem, given_measurement)
    check_free(paths, overwrite)
    files = dict(zip([p.name.removeprefix(stem) for p in paths], paths))
    write_image(files["_restored.png"], restoration.restored)
    if "_measurement.png" in files:
        measured = restoration.measured if restoration.measured is not None else restoration.measurement
        write_image(files["_measurement.png"], measured)
    write_bytes(files["_grid.png"], grid_png(restoration_panels(restoration)))
    write_json(files["_metrics.json"], {**restoration.metrics, "notes": restoration.notes})
    return paths
