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
    p.add_argument("--archive", metavar="DIR", help="also pack the stems into DIR: 16-bit FLAC in tar parts, for "
                   "training elsewhere ('projdiff train --data chorales:DIR')")
    p.add_argument("--part-mb", type=positive(float), default=60.0, help="largest archive part in MB (default 60)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.audio.archive import write_archive
    from projdiff.apps.audio.chorales import FLUID_R3, STEMS, build_chorales

    splits = tuple(args.splits.split(","))
    manifest = build_chorales(args.out, count=args.count, sample_rate=args.rate,
                              soundfont=args.soundfont or FLUID_R3, splits=splits, progress=not args.quiet)
    if not args.quiet:
        counts = {}
        for track in manifest["tracks"].values():
            counts[track["split"]] = counts.get(track["split"], 0) + 1
        print(f"{args.out}: {counts}")
    if args.archive:
        index = write_archive(args.out, args.archive, STEMS, max_bytes=int(args.part_mb * 1e6), splits=splits)
        if not args.quiet:
            sizes = [p["bytes"] for p in index["parts"]]
            print(f"{args.archive}: {len(index['tracks'])} tracks in {len(sizes)} part(s), "
                  f"{sum(sizes) / 1e6:.1f} MB (largest {max(sizes) / 1e6:.1f} MB)")
    return 0


COMMAND = Command("chorales", "Bach chorales rendered voice by voice (music21 + fluidsynth)", add_arguments, run,
                  epilog="examples:\n  projdiff data chorales --out runs/data/chorales-8k\n"
                         "  projdiff data chorales --out runs/data/chorales-8k --archive runs/data/chorales-8k-archive"
                         "   (then copy the archive and train: projdiff train --preset chorales "
                         "--data chorales:runs/data/chorales-8k-archive ...)")
