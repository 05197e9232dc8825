"""``projdiff tumor train-discriminator``: train the real-versus-synthetic lesion discriminator."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import add_device_options, positive, seed
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="runs/data/lesions", help="lesion-crop cache (projdiff data lesions)")
    p.add_argument("--prior", default="bundled:lesions", help="lesion prior of the generator")
    p.add_argument("--out", required=True, help="output folder (segmenter.json + model.safetensors)")
    p.add_argument("--lesions", type=positive(int), default=200, help="real training lesions, each with a twin (200)")
    p.add_argument("--backend-steps", type=positive(int), default=25, help="ProjDiff noise levels per twin (25)")
    p.add_argument("--steps", type=positive(int), default=1500)
    p.add_argument("--batch-size", type=positive(int), default=32)
    p.add_argument("--lr", type=positive(float, at_most=1.0), default=1e-3)
    p.add_argument("--seed", type=seed, default=0)
    add_device_options(p)


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.arguments import device_of, dtype_of
    from projdiff.apps.tumor.discriminator import train_discriminator

    info = train_discriminator(args.data, args.prior, args.out, args.lesions, args.steps, args.batch_size, args.lr,
                               args.seed, args.backend_steps, device=device_of(args.device), dtype=dtype_of(args.dtype))
    print(f"saved {args.out}: {info['lesions']} twins, {info['steps']} steps, validation {info.get('validation')}")
    return 0


COMMAND = Command("train-discriminator", "train the real-versus-synthetic lesion discriminator", add_arguments, run,
                  epilog="example:\n  projdiff tumor train-discriminator --data runs/data/lesions --prior "
                         "runs/lesion-prior --out runs/tumor-discriminator --lesions 200 --steps 1500")
