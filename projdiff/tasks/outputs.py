"""Files a restoration writes, named after its input: ``shirt.png`` gives

``shirt_restored.png``, ``shirt_measurement.png``, ``shirt_grid.png`` and ``shirt_metrics.json``.

Every file is written atomically; existing files are never replaced unless ``overwrite`` is set,
and that is checked for all of them before any work starts.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from projdiff.atomic import write_bytes, write_json
from projdiff.tasks.image_io import to_uint, write_image

SUFFIXES = ("_restored.png", "_measurement.png", "_grid.png", "_metrics.json")


def output_paths(out_dir: str | Path, stem: str) -> list[Path]:
    """The four output files of an input named ``stem``."""
    return [Path(out_dir) / f"{stem}{suffix}" for suffix in SUFFIXES]


def check_free(paths: list[Path], overwrite: bool) -> None:
    """Raise ``FileExistsError`` naming the first existing output unless ``overwrite``."""
    if overwrite:
        return
    for path in paths:
        if path.exists():
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")


def grid_png(panels: list[tuple[str, torch.Tensor]]) -> bytes:
    """A row of titled (C, H, W) images in [0, 1], as PNG bytes (matplotlib, nearest upscaling)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = panels[0][1].shape[-2:]
    scale = max(1.0, 2.2 / max(h, w) * 100)  # small images get enlarged so a person can see them
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * w * scale / 100 + 0.2, h * scale / 100 + 0.5),
                             squeeze=False, dpi=100)
    for ax, (title, image) in zip(axes[0], panels):
        array = to_uint(image)
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


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
