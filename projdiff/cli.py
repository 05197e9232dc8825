"""The ``projdiff`` command line: one entry point, one subcommand per job.

Bad input (a missing or corrupt file, an unknown task, a wrong size, an existing output) exits
with code 2 and one line on stderr that names the argument or file; nothing is half-written.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

EXAMPLES = """examples:
  projdiff demo                                        restore the bundled test images (writes demo/demo_grid.png)
  projdiff restore shirt.png --task sr4 --sigma-y 0.05 --out results
  projdiff restore a.png b.png --task inpaint --fraction 0.3 --samples 8 --seed 1 --out results
  projdiff restore photo.jpg --task deblur --blur-sigma 1.5 --prior path/to/diffusers-folder --out results
  projdiff restore low.png --measurement --task sr4 --out results      (low.png is the measurement)
  projdiff run job.toml                                batch job: inputs x tasks x settings, resumable
  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000
  accelerate launch -m projdiff run job.toml           share a job between processes or machines

Priors (--prior): bundled:fashion-mnist-32 (default), a local diffusers folder, or a hub id owner/name.
Pixel values are in [0, 1] and --sigma-y is in those units.
"""

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value

    return parse


def _step_size(text: str) -> float | str:
    if text == "auto":
        return text
    return _positive(float)(text)


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected TOP,LEFT,HEIGHT,WIDTH (4 ints), got {text!r}")
    return parts


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, e.g. 32x32, got {text!r}") from None
    return h, w


def _spec(args: argparse.Namespace):
    from projdiff.tasks.degradations import SETTINGS, TaskSpec

    if args.task not in SETTINGS:
        raise ValueError(f"--task: expected one of {', '.join(SETTINGS)}, got {args.task!r}")
    given = {"fraction": args.fraction, "box": args.box, "mask": args.mask, "blur_sigma": args.blur_sigma,
             "motion": args.motion, "kernel": args.kernel, "ratio": args.ratio, "oversampling": args.oversampling,
             "gain": args.gain}
    given = {k: v for k, v in given.items() if v is not None}
    wrong = sorted(set(given) - set(SETTINGS[args.task]))
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise ValueError(f"{flags}: not a setting of task {args.task} (its settings: "
                         f"{', '.join('--' + s.replace('_', '-') for s in SETTINGS[args.task]) or 'none'})")
    for key in ("mask", "kernel"):
        if key in given and not Path(given[key]).is_file():
            raise FileNotFoundError(f"{given[key]}: no such file (--{key})")
    return TaskSpec(args.task, given)


def _cmd_restore(args: argparse.Namespace) -> int:
    from projdiff.priors import load_prior
    from projdiff.tasks.image_io import read_image
    from projdiff.tasks.outputs import check_free, output_paths, write_restoration
    from projdiff.tasks.restoration import restore_image, restore_measurement

    spec = _spec(args)
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
        if args.measurement:
            size = args.size or _implied_size(spec, pixels)
            result = restore_measurement(pixels, spec, prior, size, **common)
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


def _implied_size(spec, measurement) -> tuple[int, int]:
    h, w = measurement.shape[-2:]
    if spec.name in ("sr2", "sr4"):
        return h * spec.size_multiple, w * spec.size_multiple
    if spec.name in ("cs", "phase"):
        raise ValueError(f"--size: task {spec.name} needs the image size (HEIGHTxWIDTH) of the measurement")
    return h, w


def _cmd_demo(args: argparse.Namespace) -> int:
    from projdiff.priors import load_prior
    from projdiff.tasks.demo import run_demo

    out = Path(args.out)
    target = out / "demo_grid.png"
    if target.exists() and not args.overwrite:
        raise FileExistsError(f"{target}: exists; pass --overwrite to replace it")
    run_demo(out, load_prior(args.prior), steps=args.steps, seed=args.seed, progress=not args.quiet)
    if not args.quiet:
        print(f"wrote {target} and {out / 'demo_metrics.json'}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import gc

    import torch.distributed as dist

    from projdiff.tasks.jobs import run_job

    try:
        summary = run_job(args.job, progress=not args.quiet)
    finally:  # under a launcher: close the process group, or gloo may abort the process at exit
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
            gc.collect()
    if not args.quiet and summary["this_process"] == 0:
        print(f"{summary['done']} of {summary['items']} items done, {len(summary['failed'])} failed, "
              f"{summary['pending']} pending")
        for failure in summary["failed"]:
            print(f"  failed {failure['id']}: {failure['error']}")
    if summary["stopped_early"]:
        return 130
    return 1 if summary["failed"] else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from projdiff.training import TrainConfig, train
    from projdiff.training.presets import PRESETS, Recipe, build_data, build_model, model_card

    if args.preset is not None:
        if args.preset not in PRESETS:
            raise ValueError(f"--preset: expected one of {sorted(PRESETS)}, got {args.preset!r}")
        recipe = PRESETS[args.preset]
    else:
        recipe = Recipe(model=args.model, data=args.data, image_size=args.image_size, channels=args.channels)
    unet, scheduler = build_model(recipe, seed=args.seed)
    dataset, validation, data_text = build_data(recipe, seed=args.seed)
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size or recipe.batch_size,
                         learning_rate=args.lr or recipe.learning_rate, checkpoint_every=args.checkpoint_every,
                         validate_every=args.checkpoint_every, seed=args.seed)
    command = "projdiff " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    name = args.preset or Path(args.out).name
    card = model_card(name, recipe, data_text, command, sum(p.numel() for p in unet.parameters()))
    summary = train(unet, scheduler, dataset, args.out, config, validation=validation, card=card,
                    progress=not args.quiet)
    if not args.quiet:
        print(f"saved {summary['output_dir']} after {summary['step']} steps "
              f"({summary['wall_seconds']:.0f} s), held-out loss {summary['heldout_loss']}")
    return 0


def _add_solver_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prior", default="bundled:fashion-mnist-32", help="bundled:NAME, a diffusers folder or a hub id")
    p.add_argument("--steps", type=_positive(int), default=100, help="noise levels (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    from projdiff.tasks.degradations import TASKS

    parser = argparse.ArgumentParser(prog="projdiff", description="Solve inverse problems with diffusion priors "
                                     "(ProjDiff).", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"projdiff {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("restore", help="restore images (simulated or given measurements)", formatter_class=raw,
                       epilog="examples:\n  projdiff restore shirt.png --task sr4 --sigma-y 0.05 --out results\n"
                              "  projdiff restore scan.png --task inpaint --mask holes.png --samples 8 --out results\n"
                              "outputs: NAME_restored.png, NAME_measurement.png, NAME_grid.png, NAME_metrics.json")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, TIFF or NPY; ground truth unless --measurement")
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    p.add_argument("--sigma-y", type=float, default=0.0, help="measurement noise, pixel units (default 0)")
    p.add_argument("--samples", type=_positive(int), default=1, help="posterior samples; >1 adds a std map")
    p.add_argument("--out", default="results", help="output folder (default results)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--measurement", action="store_true", help="the IMAGEs are measurements, not ground truth")
    p.add_argument("--size", type=_size, help="image size HEIGHTxWIDTH for --measurement with cs or phase")
    p.add_argument("--pad", action="store_true", help="pad images smaller than the prior's training size")
    p.add_argument("--step-size", type=_step_size, default=None,
                   help="ProjDiff step size: a number or 'auto' (default: 1 for one sample, 'auto' for several)")
    g = p.add_argument_group("task settings")
    g.add_argument("--fraction", type=float, help="inpaint: fraction of pixels observed at random (default 0.5)")
    g.add_argument("--box", type=_box, help="inpaint: missing box TOP,LEFT,HEIGHT,WIDTH")
    g.add_argument("--mask", help="inpaint: mask image, white = observed")
    g.add_argument("--blur-sigma", type=_positive(float), help="deblur: Gaussian kernel sigma in pixels (default 2)")
    g.add_argument("--motion", type=_positive(int), help="deblur: random motion kernel of this size")
    g.add_argument("--kernel", help="deblur: kernel file (.npy or image)")
    g.add_argument("--ratio", type=float, help="cs: measurements per pixel (default 0.25)")
    g.add_argument("--oversampling", type=_positive(float), help="phase: padded size / image size (default 2)")
    g.add_argument("--gain", type=_positive(float), help="hdr: exposure gain before clipping (default 2)")
    _add_solver_options(p)
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser("demo", help="restore the bundled test images: no argument, no download, < 2 min",
                       formatter_class=raw, epilog="example:\n  projdiff demo --out demo   # then open demo/demo_grid.png")
    p.add_argument("--out", default="demo", help="output folder (default demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo_grid.png")
    _add_solver_options(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("run", help="run or resume a batch job file (TOML)", formatter_class=raw,
                       epilog="example job.toml:\n  inputs = [\"images/*.png\"]\n  out = \"results\"\n"
                              "  [[tasks]]\n  task = \"sr4\"\n  sigma_y = [0.0, 0.05]\n"
                              "exit code: 0 all done, 1 some items failed, 130 stopped by Ctrl-C")
    p.add_argument("job", metavar="JOB.toml")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("train", help="train a diffusion prior (accelerate; resumes from checkpoints)",
                       formatter_class=raw,
                       epilog="examples:\n  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000\n"
                              "  projdiff train --data folder:photos --image-size 64 --channels 3 --out runs/p64 --steps 5000\n"
                              "  accelerate launch -m projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000")
    p.add_argument("--preset", help="named recipe (model, data, size): fashion-mnist-32")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist, folder:PATH or patches:PATH")
    p.add_argument("--model", default="small", help="UNet architecture: small (1.6 M parameters) or tiny")
    p.add_argument("--image-size", type=_positive(int), default=32, help="training crop size (default 32)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 (grayscale) or 3 (RGB)")
    p.add_argument("--out", required=True, help="output folder (diffusers format, checkpoints inside)")
    p.add_argument("--steps", type=_positive(int), required=True, help="total optimizer steps")
    p.add_argument("--batch-size", type=_positive(int), default=None, help="global batch size (default 64)")
    p.add_argument("--lr", type=_positive(float), default=None, help="learning rate (default 5e-4)")
    p.add_argument("--checkpoint-every", type=_positive(int), default=200, help="steps between checkpoints (200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
    return parser


def _version() -> str:
    from projdiff import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"projdiff {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"projdiff {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
