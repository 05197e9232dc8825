"""``projdiff fit-nmf``: learn supervised NMF dictionaries from isolated stems (for ``separate --init nmf``)."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import positive
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stems", required=True, metavar="DIR", help="training stems: DIR/<track>/<stem>.wav (mono)")
    p.add_argument("--out", required=True, help="dictionary file to write (.safetensors)")
    p.add_argument("--names", default="soprano,alto,tenor,bass",
                   help="stem names in the prior's order (default soprano,alto,tenor,bass: the chorales)")
    p.add_argument("--components", type=positive(int, at_most=4096), default=32,
                   help="dictionary columns per stem, at most 4096 (32)")
    p.add_argument("--iterations", type=positive(int, at_most=100_000), default=200,
                   help="multiplicative updates, at most 100000 (200)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from projdiff.apps.audio.nmf import NMFModel
    from projdiff.apps.audio.stems import load_tracks
    from projdiff.utils.files import check_free

    names = tuple(n.strip() for n in args.names.split(",") if n.strip())
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"--names: expected two or more different stem names, got {args.names!r}")
    check_free([Path(args.out)], args.overwrite)
    tracks, rate = load_tracks(args.stems, names)
    model = NMFModel.fit(tracks, rate, names, components=args.components, iterations=args.iterations)
    model.save(args.out)
    if not args.quiet:
        print(f"wrote {args.out}: {args.components} components per stem ({', '.join(names)}) at {rate} Hz "
              f"from {len(tracks)} tracks")
    return 0


COMMAND = Command(
    "fit-nmf", "learn NMF dictionaries from isolated stems (for separate --init nmf)", add_arguments, run,
    epilog="example:\n  projdiff fit-nmf --stems runs/data/chorales-8k/train --out runs/nmf-chorales.safetensors\n"
           "  projdiff separate mix.wav --init nmf --nmf runs/nmf-chorales.safetensors --out stems")
