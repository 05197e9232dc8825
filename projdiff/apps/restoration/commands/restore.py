"""``projdiff restore``: restore images from simulated or given measurements.

Every input is read and checked before any work starts. The outputs of an input are staged and
published as one set (``job_store.JobStore`` in ``OUT/.projdiff-job``, as ``projdiff run`` does):
after a kill or Ctrl-C no output name holds a partial file and no set is half there. A rerun of
the same command skips the inputs whose outputs are complete and made with the same input bytes
and settings, and restores the others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from projdiff.apps.arguments import add_solver_options, finite, positive
from projdiff.apps.base import Command
from projdiff.apps.restoration.degradations import DEGRADATIONS, TASKS, TaskSpec, all_settings
from projdiff.apps.restoration.restoration import DEFAULT_PRIOR


def _step_size(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return positive(float, at_most=2.0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in (0, 2], got {text!r}") from None


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, e.g. 32x32, got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected positive HEIGHTxWIDTH, got {text!r}")
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, TIFF, BMP or NPY; ground truth unless "
                   "--measurement")
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    p.add_argument("--sigma-y", type=finite, default=0.0, help="measurement noise, pixel units (default 0)")
    p.add_argument("--samples", type=positive(int), default=1, help="posterior samples; >1 adds a std map")
    p.add_argument("--out", default="results", help="output folder (default results)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--measurement", action="store_true", help="the IMAGEs are measurements, not ground truth "
                   "(e.g. NAME_measurement.png of an earlier restore, with the same task, settings and seed)")
    p.add_argument("--size", type=_size, help="image size HEIGHTxWIDTH for --measurement with cs or phase")
    p.add_argument("--pad", action="store_true", help=argparse.SUPPRESS)  # padding is automatic; kept for old scripts
    p.add_argument("--step-size", type=_step_size, default=None,
                   help="ProjDiff step size: a number in (0, 2] or 'auto' (default: 1 for one sample, 'auto' for "
                        "several)")
    p.add_argument("--sigma-end", type=positive(float, at_most=1.0), default=None,
                   help="last noise level, pixel units (default for one sample with bundled:photos-rgb: the "
                        "measurement's equivalent noise; otherwise the prior's smallest)")
    g = p.add_argument_group("task settings")
    for setting in all_settings().values():
        g.add_argument(setting.flag, dest=setting.name, type=setting.parse, help=setting.help)
    add_solver_options(p, default_prior=DEFAULT_PRIOR, default_steps=None)


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


def fingerprint(image: Path, spec: TaskSpec, args: argparse.Namespace) -> str:
    """SHA-256 of what decides a restoration: the input's bytes, the task, its files and the settings."""
    from projdiff.utils.files import sha256_file

    settings = {k: (sha256_file(v) if isinstance(v, str) else v) for k, v in spec.settings.items()}
    what = {"input": sha256_file(image), "task": spec.name, "settings": settings, "sigma_y": args.sigma_y,
            "samples": args.samples, "steps": args.steps, "seed": args.seed, "step_size": args.step_size,
            "sigma_end": args.sigma_end,
            "prior": str(args.prior), "measurement": args.measurement, "size": args.size, "dtype": args.dtype}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.arguments import device_of, dtype_of
    from projdiff.apps.restoration.image_io import read_image
    from projdiff.apps.restoration.job_store import FOLDER, JobStore
    from projdiff.apps.restoration.outputs import output_paths, output_stem, write_restoration
    from projdiff.apps.restoration.restoration import restore_image, restore_measurement
    from projdiff.priors import load_prior
    from projdiff.utils.files import check_free

    spec = task_spec(args)
    given = args.measurement
    if args.size is not None and not given:
        raise ValueError("--size: only with --measurement")
    images = [Path(p) for p in args.images]
    stems = [output_stem(p, given) for p in images]
    if len(set(stems)) != len(stems):
        raise ValueError("IMAGE: several inputs share a file name; their outputs would clash")
    pixels = [read_image(p) for p in images]   # every input is checked before any work starts
    sizes = [args.size or spec.degradation.measured_size(*x.shape[-2:]) if given else None for x in pixels]
    device, dtype = device_of(args.device), dtype_of(args.dtype)
    out = Path(args.out)
    store = JobStore(out)
    if (out / FOLDER).is_dir():
        with store.lock(wait=True):
            store.recover()
    todo = []
    for image, stem, x, size in zip(images, stems, pixels, sizes):
        key, paths = f"restore__{stem}", output_paths(out, stem, given)
        stamp = fingerprint(image, spec, args)
        record = store.record(key) if store.is_done(key) else None
        if record is not None and record.get("fingerprint") == stamp:
            if not args.quiet:
                print(f"{image}: already restored with these settings ({paths[0]}); skipped")
            continue
        check_free(paths, args.overwrite)
        todo.append((image, stem, x, size, key, stamp))
    prior = load_prior(args.prior) if todo else None
    options = {k: v for k, v in (("step_size", args.step_size), ("sigma_end", args.sigma_end)) if v is not None}
    common = dict(sigma_y=args.sigma_y, steps=args.steps, num_samples=args.samples, seed=args.seed,
                  progress=not args.quiet, device=device, dtype=dtype, **options)
    try:
        for image, stem, x, size, key, stamp in todo:
            gray_to_colour = spec.degradation.needs_rgb and x.shape[0] == 1
            if given or gray_to_colour:  # a gray image is the measurement of the colour image
                result = restore_measurement(x, spec, prior, size or spec.degradation.measured_size(*x.shape[-2:]),
                                             **common)
                if gray_to_colour and not given:
                    result.notes.append("the image is grayscale: it is the measurement of the colour image")
            else:
                result = restore_image(x, spec, prior, **common)
            with store.lock(wait=True):
                store.withdraw(key)
                staging = store.begin(key, key)
                try:
                    paths = write_restoration(staging, stem, result, overwrite=True, given_measurement=given)
                    store.commit(key, staging, {"id": key, "status": "done", "input": str(image),
                                                "fingerprint": stamp, "outputs": [p.name for p in paths],
                                                "metrics": result.metrics})
                except BaseException:
                    store.discard(staging)
                    raise
            if not args.quiet:
                for note in result.notes:
                    print(f"{image}: {note}", file=sys.stderr)
                psnr = f", PSNR {result.metrics['psnr']:.2f} dB" if "psnr" in result.metrics else ""
                print(f"{image}: wrote {out / paths[0].name} ({result.metrics['nfe']} denoiser calls, "
                      f"{result.metrics['seconds']:.1f} s{psnr})")
    finally:
        store.close()
    return 0


COMMAND = Command(
    "restore", "restore images (simulated or given measurements)", add_arguments, run,
    epilog="examples:\n  projdiff restore shirt.png --task sr4 --sigma-y 0.05 --out results\n"
           "  projdiff restore scan.png --task inpaint --mask holes.png --samples 8 --out results\n"
           "  projdiff restore results/shirt_measurement.png --measurement --task sr4 --out again\n"
           "outputs: NAME_restored.png, NAME_measurement.png (the measurement at its own size), NAME_grid.png,\n"
           "  NAME_metrics.json; with --measurement no NAME_measurement.png. Outputs have the input's size\n"
           "  (inputs are padded to the network's multiple and cropped back). A rerun skips inputs already\n"
           "  restored with the same settings and restores the rest.")
