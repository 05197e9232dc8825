"""``projdiff data photos``: the natural photographs that ship offline (the RGB photo prior's data)."""

from __future__ import annotations

import argparse
from collections import Counter

from projdiff.apps.arguments import positive
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="dataset folder (building resumes where it stopped)")
    p.add_argument("--short-side", type=positive(int), default=768,
                   help="photographs are stored with at most this short side, pixels (default 768)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.restoration.photos import build_photos

    manifest = build_photos(args.out, short_side=args.short_side, progress=not args.quiet)
    if not args.quiet:
        print(f"{args.out}: {dict(Counter(e['split'] for e in manifest['photos'].values()))}")
    return 0


COMMAND = Command("photos", "natural photographs from Debian wallpaper packages and scikit-image, split by photo",
                  add_arguments, run,
                  epilog="example:\n  projdiff data photos --out runs/data/photos\n"
                         "needs: apt-get install mate-backgrounds plasma-workspace-wallpapers; pip install "
                         "scikit-image")
