"""Speed of the RGB photo prior on the CPU: milliseconds per network call against pixels, and what helps.

    python benchmarks/photo_speed.py --write         # sizes 64..512, 2 threads
    python benchmarks/photo_speed.py --quick         # sizes 64 and 128, 2 repeats, prints only

For each image side (batch of one RGB image) and variant, the median of ``--repeats`` calls of the
prior's denoiser after two warm-up calls:

- ``float32``: the default;
- ``channels_last``: the UNet's weights and input in channels-last memory format;
- ``bfloat16 autocast``: ``torch.autocast("cpu", torch.bfloat16)`` around the call;
- ``torch.compile``: ``torch.compile(unet)``; its first call (compilation) is reported separately.

Then one whole ``restore_image`` of a 256x256 RGB image at restore's default steps (the prior's
recommendation; sr4, sigma_y 0.02) with the default variant: the number behind "a 256x256 photo takes ... on this CPU".
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402

import projdiff  # noqa: E402
from projdiff.apps.restoration.degradations import TaskSpec  # noqa: E402
from projdiff.apps.restoration.restoration import restore_image  # noqa: E402


def per_call(prior, side: int, repeats: int, channels_last: bool = False, autocast: bool = False) -> float:
    """Median seconds of one denoiser call on a (1, 3, side, side) input."""
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    prior.unet.to(memory_format=layout)
    x = x.contiguous(memory_format=layout)
    sigma = torch.tensor([0.5])
    context = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    times = []
    with torch.no_grad(), context:
        for i in range(repeats + 2):
            started = time.perf_counter()
            prior.denoise(x, sigma)
            if i >= 2:
                times.append(time.perf_counter() - started)
    prior.unet.to(memory_format=torch.contiguous_format)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prior", default="bundled:photos-rgb")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="also time torch.compile (its compilation takes minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sides, repeats = ([64, 128], 2) if args.quick else ([64, 128, 256, 384, 512], args.repeats)
    prior = projdiff.load_prior(args.prior)
    rows = []
    for side in sides:
        base = per_call(prior, side, repeats)
        last = per_call(prior, side, repeats, channels_last=True)
        bf16 = per_call(prior, side, repeats, autocast=True)
        rows.append([side, f"{side * side / 1e3:.0f}", f"{1e3 * base:.0f}", f"{1e3 * last:.0f}", f"{1e3 * bf16:.0f}"])
        print(rows[-1], flush=True)
    compiled = ""
    if args.compile:
        unet = prior.unet
        prior.unet = torch.compile(unet)
        started = time.perf_counter()
        with torch.no_grad():
            prior.denoise(torch.randn(1, 3, sides[-1], sides[-1]), torch.tensor([0.5]))
        first = time.perf_counter() - started
        compiled = (f"\n`torch.compile` at {sides[-1]} px: first call (compilation) {first:.0f} s, then "
                    f"{1e3 * per_call(prior, sides[-1], repeats):.0f} ms per call.\n")
        prior.unet = unet
    image = torch.rand(3, 256 if not args.quick else 64, 256 if not args.quick else 64,
                       generator=torch.Generator().manual_seed(1))
    steps = 5 if args.quick else None    # None: restore's default, the prior's recommendation
    started = time.perf_counter()
    result = restore_image(image, TaskSpec("sr4"), prior, sigma_y=0.02, steps=steps, seed=0)
    whole = time.perf_counter() - started
    body = (f"Prior `{args.prior}`, batch of one RGB image, {args.threads} threads, median of {repeats} calls. "
            "Milliseconds per denoiser call:\n\n"
            + table(["side (px)", "kilopixels", "float32", "channels_last", "bfloat16 autocast"], rows)
            + compiled + "\nA whole restoration (sr4, sigma_y 0.02, "
            f"{image.shape[-1]}x{image.shape[-2]} RGB, {result.metrics['steps']} steps (restore's default for this "
            f"prior), {result.metrics['nfe']} network calls, "
            f"float32): {whole:.1f} s.\n")
    emit(args.write, "photo-speed", "Speed of the photo prior on the CPU (photo issue)", body)


if __name__ == "__main__":
    main()
