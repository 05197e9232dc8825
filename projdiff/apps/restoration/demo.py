"""The embedded default job: restore the bundled demo images under four degradations.

Needs no argument and no download: the images and the prior ship inside the package. Writes
``demo_grid.png`` (rows: tasks; for each image: measurement, restoration, ground truth) and
``demo_metrics.json`` into the output folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from projdiff.apps.restoration.degradations import TaskSpec
from projdiff.apps.restoration.image_io import read_image
from projdiff.apps.restoration.restoration import restore_image
from projdiff.utils.bundled import bundled_path
from projdiff.utils.figures import grid_png
from projdiff.utils.files import write_bytes, write_json

DEMO_TASKS = (
    ("sr4, noise 0.05", TaskSpec("sr4"), 0.05),
    ("inpaint 50%", TaskSpec("inpaint", {"fraction": 0.5}), 0.0),
    ("inpaint box", TaskSpec("inpaint", {"box": (8, 8, 16, 16)}), 0.0),
    ("deblur, noise 0.05", TaskSpec("deblur", {"blur_sigma": 2.0}), 0.05),
)


def demo_images() -> dict[str, torch.Tensor]:
    """The bundled demo images, (1, 32, 32) in [0, 1], by name."""
    return {p.stem: read_image(p) for p in sorted(bundled_path("demo").glob("*.png"))}


def _stitch(images: list[torch.Tensor], gap: int = 2) -> torch.Tensor:
    """Images side by side with a white gap: list of (C, H, W) -> (C, H, W_total)."""
    pieces = []
    for i, image in enumerate(images):
        if i:
            pieces.append(torch.ones(image.shape[0], image.shape[1], gap))
        pieces.append(image)
    return torch.cat(pieces, dim=-1)


def run_demo(out_dir: str | Path, prior, *, steps: int = 100, seed: int = 0, progress: bool = True,
             device=None, dtype=None) -> dict:
    """Run the demo (the prior on ``device`` with weights of ``dtype``, default: as it is); returns the
    metrics written to ``demo_metrics.json``."""
    out_dir = Path(out_dir)
    images = demo_images()
    rows, metrics = [], {}
    for label, spec, sigma_y in DEMO_TASKS:
        results = [restore_image(image, spec, prior, sigma_y=sigma_y, steps=steps, seed=seed + i, device=device,
                                 dtype=dtype)
                   for i, image in enumerate(images.values())]
        psnr = sum(r.metrics["psnr"] for r in results) / len(results)
        metrics[label] = {"psnr_mean": round(psnr, 3), "per_image": {n: r.metrics for n, r in zip(images, results)}}
        triples = [t for r in results for t in (r.measurement, r.restored, r.truth)]
        rows.append((f"{label}: measurement | restored | truth per image   (mean PSNR {psnr:.2f} dB)", _stitch(triples, 1)))
        if progress:
            print(f"demo: {label:22s} mean PSNR {psnr:6.2f} dB")
    write_bytes(out_dir / "demo_grid.png", grid_png(rows, vertical=True))
    write_json(out_dir / "demo_metrics.json", metrics)
    return metrics

