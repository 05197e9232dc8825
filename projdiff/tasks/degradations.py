"""Image restoration tasks: each name builds a forward operator for images in [0, 1].

| task       | operator                               | settings (defaults)                                   |
|------------|----------------------------------------|-------------------------------------------------------|
| `sr2`, `sr4` | block-average super-resolution, x2 / x4 | -                                                     |
| `inpaint`  | keep the observed pixels                | `fraction` observed at random (0.5), or `box` (top, left, height, width), or `mask` (image file, white = observed) |
| `deblur`   | circular blur (FFT)                     | Gaussian `blur_sigma` (2.0 px), or `motion` kernel size, or `kernel` file |
| `colorize` | channel mean (RGB -> gray)              | -                                                     |
| `cs`       | compressed sensing, orthonormal rows    | `ratio` of measurements to pixels (0.25)               |
| `phase`    | Fourier magnitude of the zero-padded image | `oversampling` (2.0)                                |
| `hdr`      | gain about mid-gray, clipped to [0, 1]  | `gain` (2.0)                                          |
| `denoise`  | identity                                | -                                                     |

Random parts (masks, sensing rows, motion kernels) come from the generator passed in, so a task
is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from projdiff.operators import (HDR, Blur, Colorization, CompressedSensing, Denoising, Inpainting, PhaseRetrieval,
                                SuperResolution, gaussian_kernel, load_kernel, motion_kernel)

TASKS = ("sr2", "sr4", "inpaint", "deblur", "colorize", "cs", "phase", "hdr", "denoise")

SETTINGS: dict[str, dict[str, Any]] = {
    "sr2": {}, "sr4": {}, "colorize": {}, "denoise": {},
    "inpaint": {"fraction": 0.5, "box": None, "mask": None},
    "deblur": {"blur_sigma": 2.0, "motion": None, "kernel": None},
    "cs": {"ratio": 0.25},
    "phase": {"oversampling": 2.0},
    "hdr": {"gain": 2.0},
}


@dataclass
class TaskSpec:
    """A task name and its settings (missing settings take the defaults in ``SETTINGS``)."""

    name: str
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in TASKS:
            raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {self.name!r}")
        unknown = sorted(set(self.settings) - set(SETTINGS[self.name]))
        if unknown:
            raise ValueError(f"task {self.name}: unknown setting(s) {', '.join(unknown)}; "
                             f"expected some of {sorted(SETTINGS[self.name]) or 'none'}")
        self.settings = {**SETTINGS[self.name], **{k: v for k, v in self.settings.items() if v is not None}}

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the super-resolution factor)."""
        return {"sr2": 2, "sr4": 4}.get(self.name, 1)

    def label(self) -> str:
        """A short, file-name-safe description, e.g. ``inpaint-fraction0.5``."""
        parts = [self.name]
        for key, value in sorted(self.settings.items()):
            if value is not None and key in ("fraction", "blur_sigma", "motion", "ratio", "oversampling", "gain"):
                parts.append(f"{key.replace('_', '')}{value:g}")
            elif value is not None and key in ("box",):
                parts.append("box" + "x".join(str(int(v)) for v in value))
            elif value is not None and key in ("mask", "kernel"):
                parts.append(f"{key}-{str(value).rsplit('/', 1)[-1].split('.')[0]}")
        return "-".join(parts)


def build_operator(spec: TaskSpec, shape: tuple[int, int, int], generator: torch.Generator | None = None):
    """The forward operator of ``spec`` for (C, H, W) images in [0, 1].

    Raises ``ValueError`` naming the setting or file when it does not fit the image.
    """
    c, h, w = shape
    s = spec.settings
    name = spec.name
    if name in ("sr2", "sr4"):
        return SuperResolution(shape, int(name[2:]))
    if name == "inpaint":
        if s["mask"] is not None:
            from projdiff.tasks.image_io import read_image

            mask = read_image(s["mask"]).mean(0, keepdim=True)
            if tuple(mask.shape[-2:]) != (h, w):
                raise ValueError(f"{s['mask']}: mask is {mask.shape[-1]}x{mask.shape[-2]}, the image is {w}x{h}")
            return Inpainting((mask > 0.5).float().expand(c, h, w))
        if s["box"] is not None:
            top, left, height, width = (int(v) for v in s["box"])
            if top < 0 or left < 0 or height < 1 or width < 1 or top + height > h or left + width > w:
                raise ValueError(f"box: expected top,left,height,width inside the {w}x{h} image, got {s['box']}")
            return Inpainting.box(shape, top, left, height, width)
        fraction = float(s["fraction"])
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction: expected the observed fraction in (0, 1], got {fraction}")
        return Inpainting.random(shape, fraction, generator=generator)
    if name == "deblur":
        if s["kernel"] is not None:
            kernel = load_kernel(s["kernel"])
        elif s["motion"] is not None:
            kernel = motion_kernel(int(s["motion"]), generator=generator)
        else:
            kernel = gaussian_kernel(float(s["blur_sigma"]))
        if kernel.shape[-1] > w or kernel.shape[-2] > h:
            raise ValueError(f"kernel: {kernel.shape[-1]}x{kernel.shape[-2]} is larger than the {w}x{h} image")
        return Blur(kernel, shape)
    if name == "colorize":
        if c != 3:
            raise ValueError(f"task colorize: expected an RGB image and an RGB prior, got {c} channel(s)")
        return Colorization(shape)
    if name == "cs":
        ratio = float(s["ratio"])
        n = c * h * w
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio: expected a fraction of measurements in (0, 1], got {ratio}")
        basis = "hadamard" if n & (n - 1) == 0 else "random"
        if basis == "random" and n > 4096:
            raise ValueError(f"task cs: {c}x{h}x{w} = {n} pixels is not a power of two (needed for the fast "
                             "Hadamard basis) and too large for a dense random basis; crop to e.g. 64x64")
        return CompressedSensing(shape, max(1, round(ratio * n)), basis=basis, generator=generator)
    if name == "phase":
        return PhaseRetrieval(shape, oversampling=float(s["oversampling"]))
    if name == "hdr":
        return HDR(shape, gain=float(s["gain"]), pivot=0.5, low=0.0, high=1.0)
    return Denoising(shape)


def measurement_preview(operator, y: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Show a measurement (B, *output_shape) as images (B, C, H, W) in [0, 1].

    Image-shaped measurements are shown as they are; super-resolution inputs are enlarged with
    nearest neighbours; other linear measurements through the pseudo-inverse; Fourier magnitudes
    as their logarithm, resized to the image.
    """
    if tuple(y.shape[1:]) == tuple(shape):
        return y.clamp(0, 1)
    if isinstance(operator, SuperResolution):
        return torch.nn.functional.interpolate(y, size=shape[-2:], mode="nearest").clamp(0, 1)
    if isinstance(operator, Colorization):
        return y.expand(-1, shape[0], -1, -1).clamp(0, 1)
    if getattr(operator, "linear", False):
        return operator.pinv(y).clamp(0, 1)
    mag = torch.log1p(y.abs())
    mag = torch.fft.fftshift(mag, dim=(-2, -1))
    mag = mag / mag.flatten(1).amax(1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
    return torch.nn.functional.interpolate(mag, size=shape[-2:], mode="area")
