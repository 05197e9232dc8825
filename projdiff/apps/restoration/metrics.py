"""Image quality figures: PSNR and SSIM through piq (data range 1), LPIPS only with local weights.

LPIPS needs the AlexNet backbone weights in torch's hub cache; they cannot be downloaded here, so
when they are missing ``lpips`` is ``null`` (None) with the reason in ``lpips_note``, never
estimated and never a string where a number belongs.
"""

from __future__ import annotations

from pathlib import Path

import torch

LPIPS_WEIGHTS = "alexnet-owt-7be5be79.pth"


def lpips_weights_available() -> bool:
    """True when torchvision's AlexNet weights are already in the torch hub cache."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_WEIGHTS).is_file()


def image_metrics(estimate: torch.Tensor, truth: torch.Tensor) -> dict:
    """PSNR (dB) and SSIM of (C, H, W) images in [0, 1]; LPIPS, or None and ``lpips_note`` saying why."""
    import piq

    a = estimate.detach().float().clamp(0, 1)[None]
    b = truth.detach().float().clamp(0, 1)[None]
    out = {"psnr": round(float(piq.psnr(a, b, data_range=1.0)), 4)}
    size = min(a.shape[-2:])
    out["ssim"] = round(float(piq.ssim(a, b, data_range=1.0, kernel_size=min(11, size - (size + 1) % 2))), 5)
    if lpips_weights_available():
        import lpips

        model = lpips.LPIPS(net="alex", verbose=False)
        rgb = lambda t: (t.expand(-1, 3, -1, -1) * 2 - 1)  # noqa: E731
        out["lpips"] = round(float(model(rgb(a), rgb(b)).mean()), 5)
    else:
        out["lpips"] = None
        out["lpips_note"] = f"LPIPS not computed: {LPIPS_WEIGHTS} is not in the torch hub cache ({torch.hub.get_dir()})"
    return out
