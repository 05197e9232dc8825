"""``projdiff data chorales``: render Bach chorales voice by voice (the stem prior's training data)."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import positive
from projdiff.apps.base import Command


SPLITS = ("train", "validation", "test")


def _splits(text: str) -> tuple[str, ...]:
    splits = tuple(s.strip() for s in text.split(","))
    wrong = [s for s in splits if s not in SPLITS]
    if wrong or len(set(splits)) != len(splits):
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(SPLITS)}, got {text!r}")
    return splits


def _rate(text: str) -> int:
    rate = positive(int)(text)
    if not 8000 <= rate <= 96000:
        raise argparse.ArgumentTypeError(f"expected a sample rate fluidsynth renders, 8000 to 96000 Hz, got {text}")
    return rate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="dataset folder (rendering resumes where it stopped)")
    p.add_argument("--count", type=positive(int), default=120, help="four-part chorales to render (default 120)")
    p.add_argument("--rate", type=_rate, default=8000, help="sample rate in Hz, 8000 to 96000 (default 8000)")
    p.add_argument("--soundfont", help="soundfont file (default FluidR3_GM from fluid-soundfont-gm)")
    p.add_argument("--splits", type=_splits, default=SPLITS,
                   help="splits to render, comma-separated: train,validation,test (default all)")
    p.add_argument("--archive", metavar="DIR", help="also pack the stems into DIR: 16-bit FLAC in tar parts, for "
                   "training elsewhere ('projdiff train --data chorales:DIR')")
    p.add_argument("--part-mb", type=positive(float), default=60.0, help="largest archive part in MB (default 60)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from projdiff.apps.audio.archive import write_archive
    from projdiff.apps.audio.chorales import FLUID_R3, STEMS, build_chorales

    soundfont = Path(args.soundfont or FLUID_R3)
    if not soundfont.is_file():
        raise FileNotFoundError(f"{soundfont}: no such soundfont (--soundfont; apt-get install fluid-soundfont-gm)")
    if args.archive and Path(args.archive).exists() and not Path(args.archive).is_dir():
        raise NotADirectoryError(f"{args.archive}: --archive names a file; give a folder for the archive's parts")
    manifest_path = Path(args.out) / "manifest.json"
    if manifest_path.is_file():
        try:
            json.loads(manifest_path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{manifest_path}: not a chorale manifest ({exc}); use another --out") from None
    splits = args.splits
    manifest = build_chorales(args.out, count=args.count, sample_rate=args.rate, soundfont=soundfont,
                              splits=splits, progress=not args.quiet)
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
