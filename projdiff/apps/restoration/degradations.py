"""Image degradations (the restoration tasks): one ``Degradation`` object per task, in ``DEGRADATIONS``.

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

A degradation holds everything the restoration application, the job files and the CLI need to know
about a task: its settings (each with a default, a parser for the command line and a help line),
how to build its operator for (C, H, W) images in [0, 1], the size rule (sides must be multiples of
``size_multiple``; a given measurement implies the image size by ``measured_size``), whether its
measurement is an image (shown and read as one) and how to preview a measurement. Adding a task is
one ``Degradation`` in ``DEGRADATIONS``; the CLI's ``--task`` and setting flags follow from it.

Random parts (masks, sensing rows, motion kernels) come from the generator passed in, so a task
is reproducible from its seed.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from projdiff.apps.arguments import positive
from projdiff.apps.restoration.image_io import read_image
from projdiff.operators import (HDR, Blur, Colorization, CompressedSensing, Denoising, Inpainting, Operator,
                                PhaseRetrieval, SuperResolution, gaussian_kernel, load_kernel, motion_kernel)

Shape = tuple[int, int, int]


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected TOP,LEFT,HEIGHT,WIDTH (4 ints), got {text!r}")
    return parts


@dataclass(frozen=True)
class Setting:
    """One setting of a degradation: a job-file key and a command-line flag (``--blur-sigma``).

    ``kind`` says how the value enters the task's label (``number``: ``blursigma2``; ``box``:
    ``box8x8x16x16``; ``file``: ``mask-holes``) and that ``file`` values must name an existing file.
    """

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = float
    kind: str = "number"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def label(self, value) -> str:
        if self.kind == "box":
            return "box" + "x".join(str(int(v)) for v in value)
        if self.kind == "file":
            return f"{self.name}-{str(value).rsplit('/', 1)[-1].split('.')[0]}"
        return f"{self.name.replace('_', '')}{value:g}"


def same_size(operator: Operator, y: torch.Tensor, shape: Shape) -> torch.Tensor:
    """An image-shaped measurement, shown as it is."""
    return y.clamp(0, 1)


def enlarged(operator: Operator, y: torch.Tensor, shape: Shape) -> torch.Tensor:
    """A low-resolution measurement enlarged with nearest neighbours."""
    return torch.nn.functional.interpolate(y, size=shape[-2:], mode="nearest").clamp(0, 1)


def gray_as_rgb(operator: Operator, y: torch.Tensor, shape: Shape) -> torch.Tensor:
    """A grayscale measurement of an RGB image, shown in every channel."""
    return y.expand(-1, shape[0], -1, -1).clamp(0, 1)


def pseudo_inverse(operator: Operator, y: torch.Tensor, shape: Shape) -> torch.Tensor:
    """A vector of linear measurements, shown through the operator's pseudo-inverse."""
    return operator.pinv(y).clamp(0, 1)


def log_spectrum(operator: Operator, y: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Fourier magnitudes, shown as their logarithm (centred, normalised, resized to the image)."""
    mag = torch.log1p(y.abs())
    mag = torch.fft.fftshift(mag, dim=(-2, -1))
    mag = mag / mag.flatten(1).amax(1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
    return torch.nn.functional.interpolate(mag, size=shape[-2:], mode="area")


@dataclass(frozen=True)
class Degradation:
    """One restoration task (see the module docstring).

    Parameters
    ----------
    name : str
    settings : tuple of Setting
    build : callable
        ``(settings dict, (C, H, W), generator) -> Operator``; ``ValueError`` naming the setting or
        file when it does not fit the image.
    size_multiple : int, default 1
        Image sides must be multiples of this.
    upscale : int or None, default 1
        For a given measurement: the image is ``upscale`` times its size; ``None`` when the
        measurement is not an image and the size must be given (``--size``).
    needs_rgb : bool, default False
        The task needs an RGB image and an RGB prior.
    preview : callable, default ``same_size``
        ``(operator, y (B, *output_shape), (C, H, W)) -> (B, C, H, W)`` images in [0, 1].
    alternatives : tuple of str, default ()
        Settings that choose the operator in different ways (a random mask, a box or a mask
        file); at most one of them may be given.
    """

    name: str
    build: Callable[[dict, Shape, torch.Generator | None], Operator]
    settings: tuple[Setting, ...] = ()
    size_multiple: int = 1
    upscale: int | None = 1
    needs_rgb: bool = False
    preview: Callable[[Operator, torch.Tensor, Shape], torch.Tensor] = field(default=same_size)
    alternatives: tuple[str, ...] = ()

    @property
    def image_measurement(self) -> bool:
        """Whether a measurement is an image (read from and written to image files)."""
        return self.upscale is not None

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def measured_size(self, height: int, width: int) -> tuple[int, int]:
        """The image size implied by a measurement of ``height`` x ``width``; ValueError if there is none."""
        if self.upscale is None:
            raise ValueError(f"--size: task {self.name} needs the image size (HEIGHTxWIDTH) of the measurement")
        return height * self.upscale, width * self.upscale


def _inpaint(s: dict, shape: Shape, generator: torch.Generator | None) -> Operator:
    c, h, w = shape
    given = s.get("mask")  # a file, or a (1, H, W) tensor already read (and padded) by the caller
    if given is not None:
        mask = given if isinstance(given, torch.Tensor) else read_image(given).mean(0, keepdim=True)
        if tuple(mask.shape[-2:]) != (h, w):
            raise ValueError(f"{s['mask']}: mask is {mask.shape[-2]}x{mask.shape[-1]}, the image is {h}x{w}")
        return Inpainting((mask > 0.5).float().expand(c, h, w))
    if s.get("box") is not None:
        top, left, height, width = (int(v) for v in s["box"])
        if top < 0 or left < 0 or height < 1 or width < 1 or top + height > h or left + width > w:
            raise ValueError(f"box: expected top,left,height,width inside the {h}x{w} image, got {s['box']}")
        return Inpainting.box(shape, top, left, height, width)
    fraction = float(s["fraction"])
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected the observed fraction in (0, 1], got {fraction}")
    return Inpainting.random(shape, fraction, generator=generator)


def _deblur(s: dict, shape: Shape, generator: torch.Generator | None) -> Operator:
    _, h, w = shape
    if s.get("kernel") is not None:
        kernel = load_kernel(s["kernel"])
    else:  # check the kernel's side before it is allocated
        name, side = (("motion", int(s["motion"])) if s.get("motion") is not None else
                      ("blur_sigma", 2 * math.ceil(3 * float(s["blur_sigma"])) + 1))
        if side > min(h, w):
            raise ValueError(f"{name}: gives a {side}x{side} kernel, larger than the {h}x{w} image "
                             f"(at most {min(h, w)} pixels across)")
        kernel = (motion_kernel(side, generator=generator) if name == "motion" else
                  gaussian_kernel(float(s["blur_sigma"])))
    if kernel.shape[-1] > w or kernel.shape[-2] > h:
        raise ValueError(f"kernel: {kernel.shape[-2]}x{kernel.shape[-1]} is larger than the {h}x{w} image")
    return Blur(kernel, shape)


def _colorize(s: dict, shape: Shape, generator: torch.Generator | None) -> Operator:
    if shape[0] != 3:
        raise ValueError(f"task colorize: expected an RGB image and an RGB prior, got {shape[0]} channel(s)")
    return Colorization(shape)


def _compressed_sensing(s: dict, shape: Shape, generator: torch.Generator | None) -> Operator:
    c, h, w = shape
    ratio = float(s["ratio"])
    n = c * h * w
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio: expected a fraction of measurements in (0, 1], got {ratio}")
    basis = "hadamard" if n & (n - 1) == 0 else "random"
    if basis == "random" and n > 4096:
        raise ValueError(f"task cs: {c}x{h}x{w} = {n} values is not a power of two (needed for the fast "
                         "Hadamard basis) and too large for a dense random basis; crop to e.g. 64x64")
    return CompressedSensing(shape, max(1, round(ratio * n)), basis=basis, generator=generator)


def _super_resolution(factor: int) -> Degradation:
    return Degradation(f"sr{factor}", lambda s, shape, g: SuperResolution(shape, factor), size_multiple=factor,
                       upscale=factor, preview=enlarged)


DEGRADATIONS: dict[str, Degradation] = {d.name: d for d in (
    _super_resolution(2),
    _super_resolution(4),
    Degradation("inpaint", _inpaint, (
        Setting("fraction", 0.5, "inpaint: fraction of pixels observed at random (default 0.5)"),
        Setting("box", None, "inpaint: missing box TOP,LEFT,HEIGHT,WIDTH", parse_box, "box"),
        Setting("mask", None, "inpaint: mask image, white = observed", str, "file")),
        alternatives=("fraction", "box", "mask")),
    Degradation("deblur", _deblur, (
        Setting("blur_sigma", 2.0, "deblur: Gaussian kernel sigma in pixels (default 2)", positive(float)),
        Setting("motion", None, "deblur: random motion kernel of this size", positive(int)),
        Setting("kernel", None, "deblur: kernel file (.npy or image)", str, "file")),
        alternatives=("blur_sigma", "motion", "kernel")),
    Degradation("colorize", _colorize, needs_rgb=True, preview=gray_as_rgb),
    Degradation("cs", _compressed_sensing, (
        Setting("ratio", 0.25, "cs: measurements per pixel (default 0.25)"),), upscale=None, preview=pseudo_inverse),
    Degradation("phase", lambda s, shape, g: PhaseRetrieval(shape, oversampling=float(s["oversampling"])), (
        Setting("oversampling", 2.0, "phase: padded size / image size, in [1, 8] (default 2)",
                positive(float, at_most=8)),),
        upscale=None, preview=log_spectrum),
    Degradation("hdr", lambda s, shape, g: HDR(shape, gain=float(s["gain"]), pivot=0.5, low=0.0, high=1.0), (
        Setting("gain", 2.0, "hdr: exposure gain before clipping, in [0.001, 1000] (default 2)",
                positive(float, at_most=1e3, at_least=1e-3)),)),
    Degradation("denoise", lambda s, shape, g: Denoising(shape)),
)}
TASKS = tuple(DEGRADATIONS)


def all_settings() -> dict[str, Setting]:
    """Every setting of every task by name (a name means the same in every task that has it)."""
    out: dict[str, Setting] = {}
    for degradation in DEGRADATIONS.values():
        for setting in degradation.settings:
            out.setdefault(setting.name, setting)
    return out


@dataclass
class TaskSpec:
    """A task name and its settings (missing settings take the degradation's defaults)."""

    name: str
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in DEGRADATIONS:
            raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {self.name!r}")
        defaults = self.degradation.defaults()
        unknown = sorted(set(self.settings) - set(defaults))
        if unknown:
            raise ValueError(f"task {self.name}: unknown setting(s) {', '.join(unknown)}; "
                             f"expected some of {sorted(defaults) or 'none'}")
        chosen = [k for k in self.degradation.alternatives if self.settings.get(k) is not None]
        if len(chosen) > 1:
            flags = {s.name: s.flag for s in self.degradation.settings}
            raise ValueError(f"{' and '.join(flags[k] for k in chosen)}: task {self.name} takes only one of "
                             f"{', '.join(flags[k] for k in self.degradation.alternatives)}")
        if chosen:  # the chosen alternative replaces the others, defaults included (and in the label)
            defaults = {k: v for k, v in defaults.items() if k not in self.degradation.alternatives}
        self.settings = {**defaults, **{k: v for k, v in self.settings.items() if v is not None}}

    @property
    def degradation(self) -> Degradation:
        return DEGRADATIONS[self.name]

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the super-resolution factor)."""
        return self.degradation.size_multiple

    def label(self) -> str:
        """A short, file-name-safe description, e.g. ``inpaint-fraction0.5``."""
        settings = {s.name: s for s in self.degradation.settings}
        parts = [self.name] + [settings[key].label(value) for key, value in sorted(self.settings.items())
                               if value is not None]
        return "-".join(parts)

    def check_files(self) -> None:
        """``FileNotFoundError`` naming the flag when a file setting names no file."""
        for setting in self.degradation.settings:
            value = self.settings.get(setting.name)
            if setting.kind == "file" and value is not None and not Path(value).is_file():
                raise FileNotFoundError(f"{value}: no such file ({setting.flag})")


def build_operator(spec: TaskSpec, shape: Shape, generator: torch.Generator | None = None) -> Operator:
    """The forward operator of ``spec`` for (C, H, W) images in [0, 1].

    Raises ``ValueError`` naming the setting or file when it does not fit the image.
    """
    return spec.degradation.build(spec.settings, shape, generator)


def measurement_preview(spec: TaskSpec, operator: Operator, y: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Show a measurement (B, *output_shape) of ``spec`` as images (B, C, H, W) in [0, 1]."""
    return spec.degradation.preview(operator, y, shape)
