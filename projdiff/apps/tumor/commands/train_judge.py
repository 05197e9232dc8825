"""``projdiff tumor train-judge``: train the quality filter's tumor judge on the lesion-crop cache."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import add_device_options, positive, seed
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="runs/data/lesions", help="lesion-crop cache (projdiff data lesions)")
    p.add_argument("--out", required=True, help="output folder (segmenter.json + model.safetensors)")
    p.add_argument("--steps", type=positive(int), default=3000)
    p.add_argument("--batch-size", type=positive(int), default=32)
    p.add_argument("--lr", type=positive(float, at_most=1.0), default=1e-3)
    p.add_argument("--seed", type=seed, default=0)
    add_device_options(p, dtype=False)


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.arguments import device_of
    from projdiff.apps.tumor.judge import train_judge

    info = train_judge(args.data, args.out, args.steps, args.batch_size, args.lr, args.seed,
                       device=device_of(args.device))
    print(f"saved {args.out}: {info['steps']} steps, {info['seconds_per_step']} s/step, "
          f"validation {info.get('validation')}")
    return 0


COMMAND = Command("train-judge", "train the tumor judge (a segmenter of real lesions)", add_arguments, run,
                  epilog="example:\n  projdiff tumor train-judge --data runs/data/lesions --out runs/tumor-judge "
                         "--steps 3000")
