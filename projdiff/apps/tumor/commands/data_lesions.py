"""``projdiff data lesions``: build the lesion-crop cache (lesion prior, judge and discriminator data)."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import positive
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    from projdiff.apps.tumor.lesion_crops import DEFAULT_COUNTS

    p.add_argument("--out", required=True, help="cache folder, e.g. runs/data/lesions (building resumes)")
    p.add_argument("--train", type=positive(int), default=DEFAULT_COUNTS["train"], help="training phantoms (300)")
    p.add_argument("--validation", type=positive(int), default=DEFAULT_COUNTS["validation"],
                   help="validation phantoms (16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from projdiff.apps.tumor.lesion_crops import LesionCropSpec, build_cache, read_manifest

    spec = LesionCropSpec.from_dict(read_manifest(args.out)["spec"]) if (Path(args.out) / "manifest.json").is_file() \
        else LesionCropSpec()
    manifest = build_cache(args.out, spec, {"train": args.train, "validation": args.validation},
                           progress=not args.quiet)
    if not args.quiet:
        print(f"{args.out}: {manifest['counts']}")
    return 0


COMMAND = Command("lesions", "crops around realistic lesions in CT phantoms (lesion prior, judge, discriminator)",
                  add_arguments, run, epilog="example:\n  projdiff data lesions --out runs/data/lesions")
