"""``projdiff demo``: restore the bundled test images, no argument and no download needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from projdiff.apps.arguments import add_solver_options
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo", help="output folder (default demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo_grid.png")
    add_solver_options(p)


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.arguments import device_of, dtype_of
    from projdiff.apps.restoration.demo import run_demo
    from projdiff.priors import load_prior
    from projdiff.utils.files import check_free

    out = Path(args.out)
    target = out / "demo_grid.png"
    check_free([target, out / "demo_metrics.json"], args.overwrite)
    device, dtype = device_of(args.device), dtype_of(args.dtype)
    run_demo(out, load_prior(args.prior), steps=args.steps, seed=args.seed, progress=not args.quiet, device=device,
             dtype=dtype)
    if not args.quiet:
        print(f"wrote {target} and {out / 'demo_metrics.json'}")
    return 0


COMMAND = Command("demo", "restore the bundled test images: no argument, no download, < 2 min", add_arguments, run,
                  epilog="example:\n  projdiff demo --out demo   # then open demo/demo_grid.png")
