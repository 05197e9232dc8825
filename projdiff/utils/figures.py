"""Figures as PNG bytes: titled image panels in a row or a column (restoration grids, lesion overlays).

Images are (C, H, W) float tensors in [0, 1] with C = 1 or 3.
"""

from __future__ import annotations

import io

import numpy as np
import torch


def to_uint(image: torch.Tensor, bits: int = 8) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) or (H, W, 3) unsigned integers (values are clipped to [0, 1])."""
    top = 255 if bits == 8 else 65535
    array = (image.detach().float().clamp(0, 1) * top).round().cpu().numpy().astype(np.uint8 if bits == 8 else np.uint16)
    array = array.transpose(1, 2, 0)
    return array[..., 0] if array.shape[-1] == 1 else array


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
