"""Restore one image with a diffusion prior: simulate (or take) the measurement, solve, score.

Units: pixels are in [0, 1] and ``sigma_y`` is in pixel units; the prior is put into the same
units by ``AffinePrior.unit_interval`` (the one documented conversion), so operators and
measurements never leave pixel units.

Sizes: the learned priors are fully convolutional, so an image of any size is restored in one
piece (no tiles, hence no seams). Sides must be multiples of the UNet's ``size_multiple`` (and of
the super-resolution factor); other sizes are centre-cropped to the largest such multiple, and
the crop is reported. Images smaller than the prior's training size are refused unless
``pad=True`` (reflection padding, removed again from the result).

Channels (``ChannelPlan``): a grayscale prior restores an RGB image channel by channel (each channel
is one item of the batch, with its own seed); an RGB prior restores a grayscale image as a colour
image whose gray image (the channel mean) is what the degradation saw (``GrayscaleObservation``), and
the result is that colour image's gray image.

Step size: one sample asks for a point estimate, several samples ask for the posterior's spread.
So unless ``step_size`` is given, a single sample uses ProjDiff's step size 1 (each update replaces
the estimate by the denoised one: samples concentrate, which favours PSNR), and several samples use
the engine's calibrated default rule (``"auto"``, see ``projdiff.engine.projdiff_sampler``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from projdiff.apps.restoration.degradations import TaskSpec, build_operator, measurement_preview
from projdiff.apps.restoration.metrics import image_metrics
from projdiff.engine import solve
from projdiff.operators import GrayscaleObservation, Operator
from projdiff.priors import AffinePrior
from projdiff.utils.seeds import derive_seed


def _generator(*parts) -> torch.Generator:
    """A generator for one purpose (operator, measurement noise) derived from the seed."""
    return torch.Generator().manual_seed(derive_seed("projdiff.tasks", *parts))


@dataclass
class Restoration:
    """Result of :func:`restore_image` (all images (C, H, W) in [0, 1], float32)."""

    restored: torch.Tensor
    measurement: torch.Tensor
    std: torch.Tensor | None
    truth: torch.Tensor | None
    metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def prepare_image(image: torch.Tensor, multiple: int, native: int | None, pad: bool):
    """Bring an image to a size the prior and task accept.

    With ``pad`` the image is padded by reflection up to at least ``native`` and to multiples of
    ``multiple``; otherwise images smaller than ``native`` are refused and others centre-cropped
    to multiples. Returns ``(image, padding or None, notes)`` with padding as (left, right, top, bottom).
    """
    c, h, w = image.shape
    if pad:
        th = max(native or 0, -(-h // multiple) * multiple)
        tw = max(native or 0, -(-w // multiple) * multiple)
        th, tw = -(-th // multiple) * multiple, -(-tw // multiple) * multiple
        if (th, tw) == (h, w):
            return image, None, []
        if th > 2 * h or tw > 2 * w:
            raise ValueError(f"image: {w}x{h} is too small to pad to {tw}x{th} by reflection")
        padding = ((tw - w) // 2, tw - w - (tw - w) // 2, (th - h) // 2, th - h - (th - h) // 2)
        image = torch.nn.functional.pad(image[None], padding, mode="reflect")[0]
        return image, padding, [f"padded {w}x{h} to {tw}x{th} by reflection"]
    if native is not None and (h < native or w < native):
        raise ValueError(f"image: {w}x{h} is smaller than the prior's {native}x{native} training size; "
                         "pass --pad to pad it by reflection")
    nh, nw = h - h % multiple, w - w % multiple
    if (nh, nw) == (h, w):
        return image, None, []
    top, left = (h - nh) // 2, (w - nw) // 2
    return (image[:, top : top + nh, left : left + nw], None,
            [f"centre-cropped {w}x{h} to {nw}x{nh} (sides must be multiples of {multiple})"])


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


def _solve(spec: TaskSpec, prior, y: torch.Tensor, shape: tuple, sigma_y: float, seed: int, steps: int,
           num_samples: int, progress: bool, options: dict, plan: ChannelPlan):
    """Build the degradation for items of ``shape`` and solve; returns ``(degradation, result)``."""
    options = {"step_size": default_step_size(num_samples), **options}
    degradation = build_operator(spec, shape, _generator("operator", seed))
    if tuple(y.shape[1:]) != tuple(degradation.output_shape):
        raise ValueError(f"measurement: expected shape {tuple(degradation.output_shape)} per item for task "
                         f"{spec.name} on a {shape[-1]}x{shape[-2]} image, got {tuple(y.shape[1:])}")
    operator = degradation
    if plan.luminance:
        if not getattr(degradation, "linear", False):
            raise ValueError(f"task {spec.name}: a grayscale image needs a grayscale prior (e.g. --prior "
                             "bundled:fashion-mnist-32) for this nonlinear task, or an RGB image")
        operator = GrayscaleObservation(degradation)
    result = solve(operator, AffinePrior.unit_interval(prior), y, sigma_y=sigma_y, steps=steps,
                   num_samples=num_samples, seed=seed, progress=progress, **options)
    return degradation, result


def simulate(spec: TaskSpec, items: torch.Tensor, sigma_y: float, seed: int) -> tuple[Operator, torch.Tensor]:
    """The operator of ``spec`` for items (B, C, H, W) and their noisy measurement, both drawn from ``seed``
    (as ``restore_image`` draws them)."""
    operator = build_operator(spec, tuple(items.shape[1:]), _generator("operator", seed))
    clean = operator(items)
    return operator, clean + sigma_y * torch.randn(clean.shape, generator=_generator("measurement", seed),
                                                   dtype=clean.dtype)


def _channel_plan(sigma_y: float, prior, spec: TaskSpec, channels: int) -> ChannelPlan:
    if sigma_y < 0 or not math.isfinite(sigma_y):
        raise ValueError(f"sigma_y: expected a finite value >= 0, got {sigma_y}")
    per_channel = prior.shape[0] == 1 and channels == 3
    if per_channel and spec.degradation.needs_rgb:
        raise ValueError(f"task {spec.name}: needs an RGB prior; the prior is grayscale")
    luminance = prior.shape[0] == 3 and channels == 1
    if luminance and spec.degradation.needs_rgb:
        raise ValueError(f"task {spec.name}: the image is grayscale, so it is the measurement itself; restore it "
                         "with --measurement")
    return ChannelPlan(per_channel, luminance)


def restore_image(
    image: torch.Tensor,
    spec: TaskSpec,
    prior,
    *,
    sigma_y: float = 0.0,
    steps: int = 100,
    num_samples: int = 1,
    seed: int = 0,
    pad: bool = False,
    progress: bool = False,
    **options,
) -> Restoration:
    """Simulate ``spec``'s measurement of ``image`` (with noise ``sigma_y``) and restore it.

    Parameters
    ----------
    image : tensor of shape (C, H, W) in [0, 1]
        The ground truth the measurement is simulated from (C = 1 or 3).
    spec : TaskSpec
    prior : DiffusersPrior (or any prior of [-1, 1] data with a ``data_range``)
    sigma_y : float, default 0
        Measurement noise in pixel units; the noise is drawn from a stream derived from ``seed``.
    pad : bool, default False
        Pad images smaller than the prior's training size by reflection.
    steps, num_samples, seed, progress, **options
        Passed to :func:`projdiff.solve`.

    Returns
    -------
    Restoration with PSNR and SSIM against ``image`` in ``metrics``.
    """
    plan = _channel_plan(sigma_y, prior, spec, image.shape[0])
    multiple = math.lcm(getattr(prior, "size_multiple", 1), spec.size_multiple)
    native = prior.unet.config.sample_size if hasattr(prior, "unet") else None
    image, padding, notes = prepare_image(image, multiple, native, pad)
    items = plan.items(image)                                          # (B, C', H, W)
    shape = tuple(items.shape[1:])
    _, y = simulate(spec, items, sigma_y, seed)
    degradation, result = _solve(spec, prior, y, shape, sigma_y, seed, steps, num_samples, progress, options, plan)

    def as_image(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None or padding is None:
            return t
        left, right, top, bottom = padding
        return t[:, top : t.shape[-2] - bottom, left : t.shape[-1] - right]

    restored = as_image(plan.image(result.x)).clamp(0, 1)
    truth = as_image(plan.image(items))
    std = as_image(plan.spread(result.samples))
    metrics = {**image_metrics(restored, truth), **_settings(spec, sigma_y, steps, num_samples, seed, result)}
    preview = measurement_preview(spec, degradation, y, shape)
    return Restoration(restored, as_image(plan.image(preview)), std, truth, metrics, notes)


def restore_measurement(
    measurement: torch.Tensor,
    spec: TaskSpec,
    prior,
    image_size: tuple[int, int],
    *,
    sigma_y: float = 0.0,
    steps: int = 100,
    num_samples: int = 1,
    seed: int = 0,
    progress: bool = False,
    **options,
) -> Restoration:
    """Restore an image of ``image_size`` (H, W) from a given measurement.

    Parameters
    ----------
    measurement : tensor
        Image-shaped tasks (sr2, sr4, inpaint, deblur, colorize, hdr, denoise): (C, h, w) in [0, 1]
        (for inpainting the missing pixels are ignored); cs and phase: the raw measurement of one
        item, shaped like the operator's output. Random parts of the operator (inpainting masks,
        sensing rows) are rebuilt from ``seed``, so pass the seed that made the measurement.
    image_size : (H, W)
    """
    image_like = spec.degradation.image_measurement and measurement.dim() == 3
    channels = 3 if spec.degradation.needs_rgb else measurement.shape[0] if image_like else prior.shape[0]
    plan = _channel_plan(sigma_y, prior, spec, channels)
    shape = (1 if plan.per_channel or plan.luminance else channels, *image_size)
    y = plan.items(measurement)
    degradation, result = _solve(spec, prior, y, shape, sigma_y, seed, steps, num_samples, progress, options, plan)
    restored = plan.image(result.x).clamp(0, 1)
    metrics = _settings(spec, sigma_y, steps, num_samples, seed, result)
    preview = plan.image(measurement_preview(spec, degradation, y, shape))
    return Restoration(restored, preview, plan.spread(result.samples), None, metrics, [])


def _settings(spec: TaskSpec, sigma_y: float, steps: int, num_samples: int, seed: int, result) -> dict:
    return {"task": spec.label(), "sigma_y": sigma_y, "steps": steps, "samples": num_samples, "seed": seed,
            "nfe": result.nfe, "seconds": round(result.seconds, 3)}
