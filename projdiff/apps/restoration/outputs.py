"""Files a restoration writes, named after its input: ``shirt.png`` gives

``shirt_restored.png``, ``shirt_measurement.png``, ``shirt_grid.png`` and ``shirt_metrics.json``.

Every file is written atomically; existing files are never replaced unless ``overwrite`` is set,
and that is checked for all of them before any work starts.
"""

from __future__ import annotations

from pathlib import Path

import torch

from projdiff.apps.restoration.image_io import write_image
from projdiff.utils.figures import grid_png
from projdiff.utils.files import check_free, write_bytes, write_json

SUFFIXES = ("_restored.png", "_measurement.png", "_grid.png", "_metrics.json")


def output_paths(out_dir: str | Path, stem: str) -> list[Path]:
    """The four output files of an input named ``stem``."""
    return [Path(out_dir) / f"{stem}{suffix}" for suffix in SUFFIXES]


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


def write_restoration(out_dir: str | Path, stem: str, restoration, overwrite: bool = False) -> list[Path]:
    """Write the four files of one restoration; returns their paths."""
    paths = output_paths(out_dir, stem)
    check_free(paths, overwrite)
    restored, measurement, grid, metrics = paths
    write_image(restored, restoration.restored)
    write_image(measurement, restoration.measurement)
    write_bytes(grid, grid_png(restoration_panels(restoration)))
    write_json(metrics, {**restoration.metrics, "notes": restoration.notes})
    return paths
