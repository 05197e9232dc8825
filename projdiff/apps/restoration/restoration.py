"""Restore one image with a diffusion prior: simulate (or take) the measurement, solve, score.

Units: pixels are in [0, 1] and ``sigma_y`` is in pixel units; the prior is put into the same
units by ``AffinePrior.unit_interval`` (the one documented conversion), so operators and
measurements never leave pixel units.

Sizes (height x width everywhere): the learned priors are fully convolutional, so an image of any
size is restored in one piece (no tiles, hence no seams). Sides must be multiples of the UNet's
``size_multiple`` (and of the super-resolution factor) and at least the prior's training size;
other images are padded at the bottom and right by reflection up to such a size, and every
output is cropped back, so outputs have the input's size. The padding is reported in ``notes``.
Before solving, the memory the network will need is estimated (``projdiff.apps.budget``) and a
request that cannot fit is refused with the estimate in the message.

Devices: ``device`` and ``dtype`` move the prior (in place) and the measurement; the measurement
is always simulated on the CPU in float32, so it is the same bytes on every device, and results
come back to the CPU as float32.

Measurements: ``Restoration.measured`` is the measurement at its own size (a 4x smaller image for
``sr4``, the gray image for ``colorize``...) for the tasks whose measurement is an image, so that
writing it and restoring it with ``restore_measurement`` (the same task, settings and seed)
restores the same case; ``measurement`` is its preview at the image's size, for figures.

Channels (``ChannelPlan``): a grayscale prior restores an RGB image channel by channel (each channel
is one item of the batch, with its own seed); an RGB prior restores a grayscale image as a colour
image whose gray image (the channel mean) is what the degradation saw (``GrayscaleObservation``), and
the result is that colour image's gray image (its SVD comes from the degradation's, so a noisy blur
keeps ProjDiff's per-mode noise levels).

Step size: one sample asks for a point estimate, several samples ask for the posterior's spread.
So unless ``step_size`` is given, a single sample uses ProjDiff's step size 1 (each update replaces
the estimate by the denoised one: samples concentrate, which favours PSNR), and several samples use
the engine's calibrated default rule (``"auto"``, see ``projdiff.engine.projdiff_sampler``).

Point estimates: a prior may recommend, in its ``projdiff.json`` metadata table ``"restoration"``,
its number of noise levels (``steps``) and, with ``"end_at_measurement_noise": true``, that one
sample stop at the measurement's own noise level: the schedule then ends at the operator's
equivalent noise ``noise_gain * sigma_y`` (pixel units; 0.02 for inpainting with ``sigma_y`` 0.02,
0.08 for ``sr4``, whose average of 16 pixels has singular value 1/4), and the result is the
denoiser's estimate there, an average over the detail the measurement does not pin down, instead of
one draw of that detail. Measured on the 3 validation photographs with the photo prior at 50 steps
(128x128 crops): mean PSNR 0.7 to 0.9 dB above the whole schedule for sr4 (``sigma_y`` 0.02 and
0.05) and 50% inpainting (``sigma_y`` 0.02) (``benchmarks/RESULTS.md``, "validation" sections).
``sigma_end`` sets the last level explicitly; ``sigmas`` overrides both.

Holes: inpainting of a box or a mask leaves regions without any measurement, whose content the
prior must generate; their schedule starts at the prior's ``sigma_max`` (geometric levels), not at
ProjDiff's default ``4 sigma_data``, from which a large hole converges to a flat average. With this
start a 64x64 box in the 128x128 crops of the 3 validation photographs is restored at 27.17 dB
against biharmonic inpainting's 24.44 (``benchmarks/RESULTS.md``, "validation" section).
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field

import torch

from projdiff.apps.budget import check_memory, estimate_solve
from projdiff.apps.restoration.degradations import TaskSpec, build_operator, measurement_preview
from projdiff.apps.restoration.image_io import read_image
from projdiff.apps.restoration.metrics import image_metrics
from projdiff.engine import projdiff_sigmas, solve
from projdiff.operators import GrayscaleObservation, Operator
from projdiff.priors import AffinePrior
from projdiff.utils.seeds import derive_seed


DEFAULT_PRIOR = "bundled:photos-rgb"
"""The prior of ``projdiff restore`` and job files when none is given: photographs, RGB or gray."""


def _generator(*parts) -> torch.Generator:
    """A generator for one purpose (operator, measurement noise) derived from the seed."""
    return torch.Generator().manual_seed(derive_seed("projdiff.tasks", *parts))


@dataclass
class Restoration:
    """Result of :func:`restore_image` (all images (C, H, W) in [0, 1], float32, on the CPU).

    ``measured`` is the measurement at its own size for tasks whose measurement is an image
    (None for ``cs`` and ``phase``); ``measurement`` is its preview at the image's size.
    """

    restored: torch.Tensor
    measurement: torch.Tensor
    std: torch.Tensor | None
    truth: torch.Tensor | None
    metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    measured: torch.Tensor | None = None


def pad_bottom_right(image: torch.Tensor, height: int, width: int, mode: str = "reflect") -> torch.Tensor:
    """Pad (C, h, w) to (C, height, width) at the bottom and right: by reflection (repeated while the
    padding is larger than the image; edge replication for a 1-pixel side), or with ``mode`` "zeros"/"ones"."""
    if mode in ("zeros", "ones"):
        out = torch.full((image.shape[0], height, width), float(mode == "ones"), dtype=image.dtype)
        out[:, : image.shape[1], : image.shape[2]] = image
        return out
    out = image[None]
    while out.shape[-2:] != (height, width):
        h, w = out.shape[-2:]
        dh, dw = min(height - h, max(h - 1, 0)), min(width - w, max(w - 1, 0))
        if dh == 0 and dw == 0:  # a side of one pixel cannot be reflected
            return torch.nn.functional.pad(out, (0, width - w, 0, height - h), mode="replicate")[0]
        out = torch.nn.functional.pad(out, (0, dw, 0, dh), mode="reflect")
    return out[0]


def padded_size(height: int, width: int, multiple: int, native: int | None) -> tuple[int, int]:
    """The smallest size >= (height, width) and >= the training size with sides multiples of ``multiple``."""
    def side(n: int) -> int:
        return -(-max(n, native or 0) // multiple) * multiple

    return side(height), side(width)


def prepare_image(image: torch.Tensor, multiple: int, native: int | None) -> tuple[torch.Tensor, list[str]]:
    """Pad (C, H, W) at the bottom and right by reflection to ``padded_size``; returns ``(image, notes)``."""
    _, h, w = image.shape
    th, tw = padded_size(h, w, multiple, native)
    if (th, tw) == (h, w):
        return image, []
    return pad_bottom_right(image, th, tw), [f"padded {h}x{w} to {th}x{tw} at the bottom and right by reflection "
                                             f"(sides must be multiples of {multiple}"
                                             + (f", at least {native}" if native else "") + "); outputs are "
                                             f"cropped back to {h}x{w}"]


def _with_padded_mask(spec: TaskSpec, size: tuple[int, int], padded: tuple[int, int], fill: str) -> TaskSpec:
    """``spec`` with its mask file read and padded like the image (``fill``: "ones" where the padding is
    simulated, so observed; "zeros" for a given measurement, where nothing was observed)."""
    file = spec.settings.get("mask")
    if file is None or isinstance(file, torch.Tensor) or size == padded:
        return spec
    mask = read_image(file).mean(0, keepdim=True)
    if tuple(mask.shape[-2:]) != size:
        raise ValueError(f"{file}: mask is {mask.shape[-2]}x{mask.shape[-1]}, the image is {size[0]}x{size[1]}")
    built = copy.copy(spec)
    built.settings = {**spec.settings, "mask": pad_bottom_right((mask > 0.5).float(), *padded, fill)}
    return built


def _multiple_and_native(prior, spec: TaskSpec) -> tuple[int, int | None]:
    multiple = math.lcm(getattr(prior, "size_multiple", 1), spec.size_multiple)
    native = prior.unet.config.sample_size if hasattr(prior, "unet") else None
    return multiple, native


def recommended(prior) -> dict:
    """The prior's recommended restoration settings (``steps``, ``end_at_measurement_noise``); {} when none.

    ValueError naming the metadata key when they are malformed (a prior folder someone else wrote)."""
    table = getattr(prior, "metadata", {}).get("restoration", {})
    steps = table.get("steps", 1) if isinstance(table, dict) else None
    if not isinstance(table, dict) or isinstance(steps, bool) or not isinstance(steps, int) or steps < 1 \
            or not isinstance(table.get("end_at_measurement_noise", False), bool):
        raise ValueError(f"prior: its projdiff.json metadata 'restoration' must be a table with an integer steps >= 1 "
                         f"and a true/false end_at_measurement_noise, got {table!r}")
    return table


def default_steps(prior, steps: int | None) -> int:
    """``steps``, else the prior's recommendation, else 100."""
    return int(steps if steps is not None else recommended(prior).get("steps", 100))


def _has_holes(spec: TaskSpec) -> bool:
    """Inpainting of a box or a mask: regions without any measurement, whose content must be generated."""
    return spec.name == "inpaint" and (spec.settings.get("box") is not None or spec.settings.get("mask") is not None)


def _schedule(prior, spec: TaskSpec, operator: Operator, sigma_y: float, steps: int, num_samples: int,
              options: dict) -> dict:
    """``options`` with ``sigmas`` ending at ``sigma_end`` (pixel units): given, or for one sample the
    measurement's equivalent noise when the prior recommends it; starting at the prior's ``sigma_max``
    for holes (``_has_holes``); unchanged when none of this applies or ``sigmas`` is given."""
    options = dict(options)
    sigma_end = options.pop("sigma_end", None)
    at_noise = recommended(prior).get("end_at_measurement_noise", False)
    if sigma_end is None and num_samples == 1 and sigma_y > 0 and at_noise:
        sigma_end = float(operator.equivalent_noise(sigma_y))
    holes = _has_holes(spec)
    if (sigma_end is None and not holes) or "sigmas" in options:
        return options
    if sigma_end is not None and not (isinstance(sigma_end, (int, float)) and math.isfinite(sigma_end)
                                      and sigma_end > 0):
        raise ValueError(f"sigma_end: expected a noise level > 0 in pixel units, got {sigma_end!r}")
    pixel = AffinePrior.unit_interval(prior)
    low = max(pixel.sigma_min, float(sigma_end or 0.0))
    options["sigmas"] = projdiff_sigmas(steps, low, pixel.sigma_max, None if holes else pixel.sigma_data)
    return options


def default_step_size(num_samples: int) -> float | str:
    """The task's step size when none is given: 1 for a point estimate, the calibrated rule for samples."""
    return 1.0 if num_samples == 1 else "auto"


@dataclass(frozen=True)
class ChannelPlan:
    """How an image's channels meet the prior's.

    ``per_channel``: a grayscale prior and an RGB image; each channel is an item of the batch.
    ``luminance``: an RGB prior and a grayscale image; the unknown is an RGB image observed through
    its gray image, and results are reported as gray images.
    """

    per_channel: bool = False
    luminance: bool = False

    def items(self, image: torch.Tensor) -> torch.Tensor:
        """(C, H, W) -> (B, C', H, W): the batch the degradation sees."""
        return image[:, None] if self.per_channel else image[None]

    def image(self, t: torch.Tensor) -> torch.Tensor:
        """A solver output (B, C', H, W) (or a degradation-shaped batch) as one (C, H, W) image."""
        out = t[:, 0] if self.per_channel else t[0]
        return out.mean(0, keepdim=True) if self.luminance and out.shape[0] == 3 else out

    def spread(self, samples: torch.Tensor) -> torch.Tensor | None:
        """Per-pixel standard deviation (C, H, W) of the samples (K, B, C', H, W), None for one sample."""
        if samples.shape[0] < 2:
            return None
        return self.image(samples.mean(dim=2, keepdim=True).std(dim=0) if self.luminance else samples.std(dim=0))


def _place(prior, device, dtype) -> torch.device:
    """Move the prior to ``device`` / ``dtype`` (when given); returns the device it is on."""
    if device is not None or dtype is not None:
        prior.to(device=device, dtype=dtype)
    param = next(prior.parameters(), None) if hasattr(prior, "parameters") else None
    return param.device if param is not None else torch.device("cpu")


def _solve(spec: TaskSpec, prior, y: torch.Tensor, shape: tuple, sigma_y: float, seed: int, steps: int,
           num_samples: int, progress: bool, options: dict, plan: ChannelPlan, device: torch.device):
    """Build the degradation for items of ``shape``, check the memory the prior needs and solve on
    ``device``; returns ``(degradation, result)`` (the degradation stays on the CPU)."""
    options = {"step_size": default_step_size(num_samples), **options}
    degradation = build_operator(spec, shape, _generator("operator", seed))
    if tuple(y.shape[1:]) != tuple(degradation.output_shape):
        raise ValueError(f"measurement: expected shape {tuple(degradation.output_shape)} per item for task "
                         f"{spec.name} on a {shape[-2]}x{shape[-1]} image, got {tuple(y.shape[1:])}")
    operator = degradation
    if plan.luminance:
        if not getattr(degradation, "linear", False):
            raise ValueError(f"task {spec.name}: a grayscale image needs a grayscale prior (e.g. --prior "
                             "bundled:fashion-mnist-32) for this nonlinear task, or an RGB image")
        operator = GrayscaleObservation(degradation)
    options = _schedule(prior, spec, operator, sigma_y, steps, num_samples, options)
    items = num_samples * y.shape[0]
    estimate = estimate_solve(prior, items, tuple(shape[1:]), steps + 1, time_it=progress)
    if estimate is not None:
        what = f"samples {num_samples} x {y.shape[0]} item(s) of {shape[-2]}x{shape[-1]} pixels"
        check_memory(what, estimate.bytes, device, "use fewer samples or a smaller image")
        if progress:
            print(f"{spec.name}: {what}, {steps} steps on {device}: {estimate.describe()}", file=sys.stderr)
    on_device = operator if device.type == "cpu" else copy.deepcopy(operator).to(device)
    result = solve(on_device, AffinePrior.unit_interval(prior), y.to(device), sigma_y=sigma_y, steps=steps,
                   num_samples=num_samples, seed=seed, progress=progress, **options)
    return degradation, result


def simulate(spec: TaskSpec, items: torch.Tensor, sigma_y: float, seed: int) -> tuple[Operator, torch.Tensor]:
    """The operator of ``spec`` for items (B, C, H, W) and their noisy measurement, both drawn from ``seed``
    (as ``restore_image`` draws them)."""
    operator = build_operator(spec, tuple(items.shape[1:]), _generator("operator", seed))
    clean = operator(items)
    return operator, clean + sigma_y * torch.randn(clean.shape, generator=_generator("measurement", seed),
                                                   dtype=clean.dtype)


def _channel_plan(sigma_y: float, prior, spec: TaskSpec, channels: int) -> tuple[ChannelPlan, list[str]]:
    """How the image's channels meet the prior's, and notes (a noise level far above the data)."""
    if sigma_y < 0 or not math.isfinite(sigma_y):
        raise ValueError(f"sigma_y: expected a finite value >= 0, got {sigma_y}")
    if prior.shape is None or len(prior.shape) != 3:
        raise ValueError(f"prior: not an image prior (its items have shape {prior.shape}, expected (C, H, W))")
    per_channel = prior.shape[0] == 1 and channels == 3
    if per_channel and spec.degradation.needs_rgb:
        raise ValueError(f"task {spec.name}: needs an RGB prior; the prior is grayscale")
    luminance = prior.shape[0] == 3 and channels == 1
    if luminance and spec.degradation.needs_rgb:
        raise ValueError(f"task {spec.name}: the image is grayscale, so it is the measurement itself; restore it "
                         "with --measurement")
    notes = [f"sigma_y {sigma_y:g} is far above the pixel range [0, 1]: the measurement is mostly noise "
             "(sigma_y is in pixel units; 8-bit noise of 5 levels is 5/255 = 0.02)"] if sigma_y > 1 else []
    return ChannelPlan(per_channel, luminance), notes


def restore_image(
    image: torch.Tensor,
    spec: TaskSpec,
    prior,
    *,
    sigma_y: float = 0.0,
    steps: int | None = None,
    num_samples: int = 1,
    seed: int = 0,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    **options,
) -> Restoration:
    """Simulate ``spec``'s measurement of ``image`` (with noise ``sigma_y``) and restore it.

    Parameters
    ----------
    image : tensor of shape (C, H, W) in [0, 1]
        The ground truth the measurement is simulated from (C = 1 or 3); any size (padded, then
        cropped back, see the module docstring).
    spec : TaskSpec
    prior : DiffusersPrior (or any prior of [-1, 1] data with a ``data_range``)
    sigma_y : float, default 0
        Measurement noise in pixel units; the noise is drawn from a stream derived from ``seed``.
    device, dtype : optional
        Where the prior runs (it is moved there) and the dtype of its weights; default: as it is.
    steps : int, optional
        Noise levels; default the prior's recommendation (``recommended``), else 100.
    num_samples, seed, progress, **options
        Passed to :func:`projdiff.solve` (``sigma_end``: see the module docstring); with
        ``progress`` the memory and time estimate is printed to stderr first.

    Returns
    -------
    Restoration of the input's size, with PSNR and SSIM against ``image`` in ``metrics``.
    """
    steps = default_steps(prior, steps)
    plan, notes = _channel_plan(sigma_y, prior, spec, image.shape[0])
    device = _place(prior, device, dtype)
    multiple, native = _multiple_and_native(prior, spec)
    _, h, w = image.shape
    image, padding_notes = prepare_image(image, multiple, native)
    spec_built = _with_padded_mask(spec, (h, w), tuple(image.shape[-2:]), "ones")
    items = plan.items(image)                                          # (B, C', H, W)
    shape = tuple(items.shape[1:])
    _, y = simulate(spec_built, items, sigma_y, seed)
    degradation, result = _solve(spec_built, prior, y, shape, sigma_y, seed, steps, num_samples, progress, options,
                                 plan, device)

    def as_image(t: torch.Tensor | None, scale: int = 1) -> torch.Tensor | None:
        """(C, H, W) on the CPU, cropped back to the input (``scale``: image pixels per measurement pixel)."""
        return None if t is None else t.float().cpu()[:, : -(-h // scale), : -(-w // scale)]

    restored = as_image(plan.image(result.x)).clamp(0, 1)
    truth = as_image(plan.image(items))
    std = as_image(plan.spread(result.samples))
    metrics = {**image_metrics(restored, truth), **_settings(spec, sigma_y, steps, num_samples, seed, result)}
    measured = (as_image(plan.image(y), spec.degradation.upscale).clamp(0, 1)
                if spec.degradation.image_measurement else None)
    preview = as_image(plan.image(measurement_preview(spec_built, degradation, y, shape)))
    return Restoration(restored, preview, std, truth, metrics, notes + padding_notes, measured)


def restore_measurement(
    measurement: torch.Tensor,
    spec: TaskSpec,
    prior,
    image_size: tuple[int, int],
    *,
    sigma_y: float = 0.0,
    steps: int | None = None,
    num_samples: int = 1,
    seed: int = 0,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    **options,
) -> Restoration:
    """Restore an image of ``image_size`` (H, W) from a given measurement.

    Parameters
    ----------
    measurement : tensor
        Image-shaped tasks (sr2, sr4, inpaint, deblur, colorize, hdr, denoise): (C, h, w) in [0, 1]
        with (h, w) = ``image_size`` / the task's upscale factor (for inpainting the missing pixels
        are ignored; for colorize an RGB measurement is averaged to gray); padded like an image
        and the result cropped back. cs and phase: the raw measurement of one item, shaped like
        the operator's output for ``image_size`` (no padding: the size must suit the prior).
        Random parts of the operator (inpainting masks, sensing rows) are rebuilt from ``seed``,
        so pass the seed that made the measurement.
    image_size : (H, W)
    device, dtype : optional
        As in :func:`restore_image`.
    """
    degradation = spec.degradation
    image_like = degradation.image_measurement and measurement.dim() == 3
    if image_like and degradation.needs_rgb and measurement.shape[0] == 3:
        measurement = measurement.mean(0, keepdim=True)                  # a gray image saved as RGB
    channels = 3 if degradation.needs_rgb else measurement.shape[0] if image_like else prior.shape[0]
    steps = default_steps(prior, steps)
    plan, notes = _channel_plan(sigma_y, prior, spec, channels)
    device = _place(prior, device, dtype)
    h, w = image_size
    spec_built, padded, padding_notes = spec, (h, w), []
    if image_like:
        upscale = degradation.upscale
        if tuple(measurement.shape[-2:]) != (-(-h // upscale), -(-w // upscale)):
            raise ValueError(f"measurement: expected {-(-h // upscale)}x{-(-w // upscale)} pixels for task "
                             f"{spec.name} on a {h}x{w} image, got {measurement.shape[-2]}x{measurement.shape[-1]}")
        multiple, native = _multiple_and_native(prior, spec)
        padded = padded_size(h, w, multiple, native)
        if padded != (h, w):
            measurement = pad_bottom_right(measurement, padded[0] // upscale, padded[1] // upscale)
            padding_notes = [f"padded the measurement to a {padded[0]}x{padded[1]} image at the bottom and right "
                             f"by reflection; outputs are cropped back to {h}x{w}"]
        spec_built = _with_padded_mask(spec, (h, w), padded, "zeros")
    shape = (1 if plan.per_channel or plan.luminance else channels, *padded)
    y = plan.items(measurement)
    degradation, result = _solve(spec_built, prior, y, shape, sigma_y, seed, steps, num_samples, progress, options,
                                 plan, device)

    def as_image(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.float().cpu()[:, :h, :w]

    restored = as_image(plan.image(result.x)).clamp(0, 1)
    metrics = _settings(spec, sigma_y, steps, num_samples, seed, result)
    preview = as_image(plan.image(measurement_preview(spec_built, degradation, y, shape)))
    return Restoration(restored, preview, as_image(plan.spread(result.samples)), None, metrics,
                       notes + padding_notes)


def _settings(spec: TaskSpec, sigma_y: float, steps: int, num_samples: int, seed: int, result) -> dict:
    return {"task": spec.label(), "sigma_y": sigma_y, "steps": steps, "samples": num_samples, "seed": seed,
            "nfe": result.nfe, "seconds": round(result.seconds, 3)}
