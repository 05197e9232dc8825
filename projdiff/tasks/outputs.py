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


def grid_png(panels: list[tuple[str, torch.Tensor]], vertical: bool = False) -> bytes:
    """Titled (C, H, W) images in [0, 1] in one row (or one column), as PNG bytes.

    Small images are enlarged with nearest-neighbour interpolation so that a person can see them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = max(image.shape[-2] for _, image in panels)
    w = max(image.shape[-1] for _, image in panels)
    scale = max(1.0, 220 / max(h, w)) if not vertical else max(1.0, 128 / h)
    n = len(panels)
    size = (w * scale / 100 + 0.3, n * (h * scale / 100 + 0.4)) if vertical else \
        (n * (w * scale / 100 + 0.1) + 0.2, h * scale / 100 + 0.5)
    fig, axes = plt.subplots(n if vertical else 1, 1 if vertical else n, figsize=size, squeeze=False, dpi=100)
    for ax, (title, image) in zip(axes.flatten(), panels):
        array = to_uint(image)
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8, loc="left" if vertical else "center")
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
