"""``projdiff data chorales``: render Bach chorales voice by voice (the stem prior's training data)."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import positive
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="dataset folder (rendering resumes where it stopped)")
    p.add_argument("--count", type=positive(int), default=120, help="four-part chorales to render (default 120)")
    p.add_argument("--rate", type=positive(int), default=8000, help="sample rate in Hz (default 8000)")
    p.add_argument("--soundfont", help="soundfont file (default FluidR3_GM from fluid-soundfont-gm)")
    p.add_argument("--splits", default="train,validation,test", help="splits to render (default all)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.audio.chorales import FLUID_R3, build_chorales

    manifest = build_chorales(args.out, count=args.count, sample_rate=args.rate,
                              soundfont=args.soundfont or FLUID_R3, splits=tuple(args.splits.split(",")),
                              progress=not args.quiet)
    if not args.quiet:
        splits = {}
        for track in manifest["tracks"].values():
            splits[track["split"]] = splits.get(track["split"], 0) + 1
        print(f"{args.out}: {splits}")
    return 0


COMMAND = Command("chorales", "Bach chorales rendered voice by voice (music21 + fluidsynth)", add_arguments, run,
                  epilog="example:\n  projdiff data chorales --out runs/data/chorales-8k")
