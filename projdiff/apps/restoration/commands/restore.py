"""``projdiff restore``: restore images from simulated or given measurements."""

from __future__ import annotations

import argparse
from pathlib import Path

from projdiff.apps.arguments import add_solver_options, positive
from projdiff.apps.base import Command
from projdiff.apps.restoration.degradations import DEGRADATIONS, TASKS, TaskSpec, all_settings


def _step_size(text: str) -> float | str:
    if text == "auto":
        return text
    return positive(float)(text)


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, e.g. 32x32, got {text!r}") from None
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, TIFF, BMP or NPY; ground truth unless "
                   "--measurement")
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    p.add_argument("--sigma-y", type=float, default=0.0, help="measurement noise, pixel units (default 0)")
    p.add_argument("--samples", type=positive(int), default=1, help="posterior samples; >1 adds a std map")
    p.add_argument("--out", default="results", help="output folder (default results)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--measurement", action="store_true", help="the IMAGEs are measurements, not ground truth")
    p.add_argument("--size", type=_size, help="image size HEIGHTxWIDTH for --measurement with cs or phase")
    p.add_argument("--pad", action="store_true", help="pad images smaller than the prior's training size")
    p.add_argument("--step-size", type=_step_size, default=None,
                   help="ProjDiff step size: a number or 'auto' (default: 1 for one sample, 'auto' for several)")
    g = p.add_argument_group("task settings")
    for setting in all_settings().values():
        g.add_argument(setting.flag, dest=setting.name, type=setting.parse, help=setting.help)
    add_solver_options(p)


def task_spec(args: argparse.Namespace) -> TaskSpec:
    """The task of ``--task`` with the settings given as flags; ValueError naming flags it does not have."""
    if args.task not in DEGRADATIONS:
        raise ValueError(f"--task: expected one of {', '.join(TASKS)}, got {args.task!r}")
    settings = DEGRADATIONS[args.task].settings
    given = {name: getattr(args, name) for name in all_settings() if getattr(args, name) is not None}
    wrong = sorted(set(given) - {s.name for s in settings})
    if wrong:
        flags = ", ".join(all_settings()[w].flag for w in wrong)
        raise ValueError(f"{flags}: not a setting of task {args.task} (its settings: "
                         f"{', '.join(s.flag for s in settings) or 'none'})")
    spec = TaskSpec(args.task, given)
    spec.check_files()
    return spec


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.restoration.image_io import read_image
    from projdiff.apps.restoration.outputs import output_paths, write_restoration
    from projdiff.apps.restoration.restoration import restore_image, restore_measurement
    from projdiff.priors import load_prior
    from projdiff.utils.files import check_free

    spec = task_spec(args)
    out = Path(args.out)
    stems = [Path(p).stem for p in args.images]
    if len(set(stems)) != len(stems):
        raise ValueError("IMAGE: several inputs share a file name; their outputs would clash")
    for image in args.images:
        if not Path(image).is_file():
            raise FileNotFoundError(f"{image}: no such file")
        check_free(output_paths(out, Path(image).stem), args.overwrite)
    prior = load_prior(args.prior)
    options = {} if args.step_size is None else {"step_size": args.step_size}
    for image in args.images:
        pixels = read_image(image)
        common = dict(sigma_y=args.sigma_y, steps=args.steps, num_samples=args.samples, seed=args.seed,
                      progress=not args.quiet, **options)
        gray_to_colour = spec.degradation.needs_rgb and pixels.shape[0] == 1
        if args.measurement or gray_to_colour:
            size = args.size or spec.degradation.measured_size(*pixels.shape[-2:])
            result = restore_measurement(pixels, spec, prior, size, **common)
            if gray_to_colour and not args.measurement:
                result.notes.append("the image is grayscale: it is the measurement of the colour image")
        else:
            result = restore_image(pixels, spec, prior, pad=args.pad, **common)
        paths = write_restoration(out, Path(image).stem, result, overwrite=args.overwrite)
        if not args.quiet:
            for note in result.notes:
                print(f"{image}: {note}")
            psnr = f", PSNR {result.metrics['psnr']:.2f} dB" if "psnr" in result.metrics else ""
            print(f"{image}: wrote {paths[0]} ({result.metrics['nfe']} denoiser calls, "
                  f"{result.metrics['seconds']:.1f} s{psnr})")
    return 0


COMMAND = Command(
    "restore", "restore images (simulated or given measurements)", add_arguments, run,
    epilog="examples:\n  projdiff restore shirt.png --task sr4 --sigma-y 0.05 --out results\n"
           "  projdiff restore scan.png --task inpaint --mask holes.png --samples 8 --out results\n"
           "outputs: NAME_restored.png, NAME_measurement.png, NAME_grid.png, NAME_metrics.json")
