"""Memory and time of the network calls a command is about to make, checked before any allocation.

A diffusers UNet's cost per call grows with the items in the batch and their size; a request
that cannot fit (a 2048x2048 photo with attention at 1/4 resolution, a million samples, a
training batch of 10^8) is refused with an estimate in the message instead of failing after
minutes inside the allocator. The estimate is a model, not a measurement:

- memory: ``MEMORY_FACTOR * 4 bytes * sum over levels of (2 L + 3) C_i P / r^i`` per item (L
  layers per block, C_i the channels of level i, P the pixels or samples of an item, r = 4 in 2D
  and 2 in 1D), times the bytes of the weights' dtype over 4. ``MEMORY_FACTOR`` = 1.5 matches the
  peak resident memory of the bundled ``fashion-mnist-32`` prior at 256x256 and 512x512 on the CPU
  (``benchmarks/reliability.py`` re-measures it); training keeps about ``TRAINING_FACTOR`` = 4
  times as much for the backward pass;
- time: one call on one small item (64x64, or 1024 samples) is timed on the device, then scaled
  by the multiply-adds (convolutions linear in P, attention quadratic in the tokens of its level,
  weighted ``ATTENTION_WEIGHT`` = 9 times: on the CPU an attention multiply-add costs about 9
  convolution ones, fitted on the same prior from 64x64 to 512x512, within 25%) and by the number
  of items and calls.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

MEMORY_FACTOR = 1.5
TRAINING_FACTOR = 4.0
ATTENTION_WEIGHT = 9.0
CALIBRATION = {2: 64, 1: 1024}  # side (2D) or length (1D) of the item timed to estimate the speed


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover - the loop always returns


def format_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def available_memory(device=None) -> float | None:
    """Bytes the process may still allocate on ``device`` (CPU: MemAvailable; CUDA: free memory); None if unknown."""
    import torch

    device = torch.device(device or "cpu")
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _config(prior) -> dict | None:
    """The diffusers config of the prior's UNet; None for other networks (an MSDM checkpoint's UNet1d)."""
    unet = getattr(prior, "unet", None) or getattr(getattr(prior, "base", None), "unet", None)
    config = getattr(unet, "config", None)
    return dict(config) if config is not None and "block_out_channels" in config else None


def _levels(config: dict, spatial: tuple[int, ...]):
    """(channels, positions per item, has attention) of each level of the UNet."""
    reduce = 2 ** len(spatial)
    pixels = math.prod(spatial)
    for i, (channels, kind) in enumerate(zip(config["block_out_channels"], config["down_block_types"])):
        yield channels, pixels / reduce**i, "Attn" in kind


def unet_bytes(config: dict, spatial: tuple[int, ...], element_bytes: int = 4) -> float:
    """Estimated peak activation memory of one UNet call on one item of size ``spatial`` (see the module)."""
    layers = int(config.get("layers_per_block", 2))
    units = sum((2 * layers + 3) * c * p for c, p, _ in _levels(config, spatial))
    return MEMORY_FACTOR * element_bytes * units


def unet_macs(config: dict, spatial: tuple[int, ...]) -> float:
    """Weighted multiply-adds of one UNet call on one item: convolutions plus ``ATTENTION_WEIGHT`` times
    those of attention (quadratic in its tokens)."""
    layers = int(config.get("layers_per_block", 2))
    taps = 9 if len(spatial) == 2 else 5
    total = 0.0
    for c, p, attention in _levels(config, spatial):
        total += (4 * layers + 3) * taps * c * c * p
        if attention:
            total += ATTENTION_WEIGHT * 2 * p * p * c + 4 * p * c * c
    return total


@dataclass(frozen=True)
class Estimate:
    """What a piece of work needs: ``bytes`` of memory and about ``seconds`` of time (None: unknown)."""

    bytes: float
    seconds: float | None

    def describe(self) -> str:
        time_part = "" if self.seconds is None else f", about {format_seconds(self.seconds)}"
        return f"about {format_bytes(self.bytes)} of memory{time_part}"


def _seconds_per_mac(prior, config: dict, spatial: tuple[int, ...]) -> float:
    """Time a call of the prior on one small item (after a first, untimed one) per multiply-add."""
    import torch

    small = tuple(min(s, CALIBRATION[len(spatial)]) for s in spatial)
    param = next(prior.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    channels = prior.shape[0] if getattr(prior, "shape", None) else config["in_channels"]
    x = torch.linspace(-1, 1, channels * math.prod(small), device=device).reshape(1, channels, *small)  # not zeros:
    # a constant input drives GroupNorm into denormal numbers, several times slower on the CPU
    sigma = torch.ones(1, device=device)
    condition = getattr(prior, "condition_channels", 0)
    extra = (torch.zeros(1, condition, *small, device=device),) if condition else ()
    seconds = []
    for _ in range(2):  # the first call pays one-off set-up costs; the second is timed
        started = time.perf_counter()
        with torch.no_grad():
            prior.denoise(x, sigma, *extra)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - started)
    return seconds[-1] / max(unet_macs(config, small), 1.0)


def estimate_solve(prior, items: int, spatial: tuple[int, ...], calls: int, *, time_it: bool = True) -> Estimate | None:
    """Memory and time of ``calls`` prior calls on a batch of ``items`` items of size ``spatial``.

    None when the prior is not a diffusers UNet (analytic priors are cheap). ``time_it`` times one
    small call to estimate the speed (skipped by the memory-only checks).
    """
    config = _config(prior)
    if config is None:
        return None
    param = next(prior.parameters(), None)
    element = param.element_size() if param is not None else 4
    memory = items * unet_bytes(config, spatial, element)
    seconds = None
    if time_it:
        seconds = _seconds_per_mac(prior, config, spatial) * unet_macs(config, spatial) * items * calls
    return Estimate(memory, seconds)


class ResourceError(ValueError):
    """A request that would not fit in memory; the message names the argument and the estimate."""


def check_memory(what: str, needed: float, device=None, hint: str = "") -> None:
    """``ResourceError`` naming ``what`` when ``needed`` bytes exceed what ``device`` has available."""
    have = available_memory(device)
    if have is not None and needed > have:
        raise ResourceError(f"{what}: needs about {format_bytes(needed)} of memory, more than the "
                          f"{format_bytes(have)} available{'; ' + hint if hint else ''}")
