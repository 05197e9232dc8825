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
  projdiff separate mix.wav --prior bundled:chorales --out stems
  projdiff generate --given soprano=melody.wav --out generated
  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000
  accelerate launch --multi_gpu --num_processes 4 -m projdiff run job.toml   share a job between 4 CPU processes

Priors (--prior): bundled:fashion-mnist-32 (default), a local diffusers folder, or a hub id owner/name.
Pixel values are in [0, 1] and --sigma-y is in those units.
"""

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError)


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


def _check_outputs(paths: list[Path], overwrite: bool) -> None:
    for path in paths:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")


def _cmd_separate(args: argparse.Namespace) -> int:
    import torch

    from projdiff.atomic import write_json
    from projdiff.priors import load_prior
    from projdiff.tasks.audio import AudioPrior, is_silent, separate
    from projdiff.tasks.audio_io import read_audio, write_audio
    from projdiff.tasks.audio_metrics import msdm_scores, summarize
    from projdiff.tasks.audio_outputs import write_spectrograms

    mixture, rate, warnings = read_audio(args.mixture)
    if is_silent(mixture):
        raise ValueError(f"{args.mixture}: all samples are silent; there is nothing to separate")
    audio_prior = AudioPrior.of(load_prior(args.prior))
    out, stem = Path(args.out), Path(args.mixture).stem
    wavs = [out / f"{stem}_{name}.wav" for name in audio_prior.stems]
    extra = [out / f"{stem}_spectrogram.png"] + ([out / f"{stem}_metrics.json"] if args.references else [])
    _check_outputs(wavs + extra, args.overwrite)
    references = None
    if args.references:
        loaded = [read_audio(Path(args.references) / f"{name}.wav") for name in audio_prior.stems]
        for (ref, ref_rate, _), name in zip(loaded, audio_prior.stems):
            if ref_rate != rate or ref.shape != mixture.shape:
                raise ValueError(f"{Path(args.references) / (name + '.wav')}: expected {mixture.shape[0]} channel(s), "
                                 f"{mixture.shape[1]} samples at {rate} Hz like the mixture, got {ref.shape[0]}, "
                                 f"{ref.shape[1]} at {ref_rate} Hz")
        references = torch.stack([r for r, _, _ in loaded], dim=1)  # (C, K, N)
    if not args.quiet:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    stems = separate(mixture, rate, audio_prior, sigma_y=args.sigma_y, steps=args.steps, seed=args.seed,
                     progress=not args.quiet)                                     # (C, K, N)
    for k, path in enumerate(wavs):
        write_audio(path, stems[:, k], rate)
    write_spectrograms(extra[0], [("mixture", mixture)] + [(n, stems[:, k]) for k, n in enumerate(audio_prior.stems)],
                       rate)
    if references is not None:
        scores = [msdm_scores(stems[c], references[c], mixture[c], rate) for c in range(mixture.shape[0])]
        write_json(extra[1], summarize(scores, audio_prior.stems))
    if not args.quiet:
        print(f"wrote {len(wavs)} stems to {out}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from projdiff.priors import load_prior
    from projdiff.tasks.audio import AudioPrior, generate
    from projdiff.tasks.audio_io import read_audio, write_audio
    from projdiff.tasks.audio_outputs import write_spectrograms

    audio_prior = AudioPrior.of(load_prior(args.prior))
    given, rates = {}, set()
    for item in args.given:
        name, sep, file = item.partition("=")
        if not sep or not file:
            raise ValueError(f"--given: expected STEM=FILE, got {item!r}")
        if name in given:
            raise ValueError(f"--given: stem {name!r} given twice")
        given[name], rate, _ = read_audio(file)
        rates.add(rate)
    if len(rates) != 1:
        raise ValueError(f"--given: files have different sample rates {sorted(rates)}")
    rate = rates.pop()
    out = Path(args.out)
    wavs = [out / f"{name}.wav" for name in audio_prior.stems] + [out / "mix.wav"]
    _check_outputs(wavs + [out / "spectrogram.png"], args.overwrite)
    stems = generate(given, rate, audio_prior, steps=args.steps, seed=args.seed, progress=not args.quiet,
                     restricted_encoding=args.restricted_encoding)
    for k, path in enumerate(wavs[:-1]):
        write_audio(path, stems[:, k], rate)
    write_audio(wavs[-1], stems.sum(dim=1), rate)
    write_spectrograms(out / "spectrogram.png", [(n, stems[:, k]) for k, n in enumerate(audio_prior.stems)], rate)
    if not args.quiet:
        print(f"wrote {len(wavs)} files to {out}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from projdiff.data.chorales import FLUID_R3, build_chorales

    manifest = build_chorales(args.out, count=args.count, sample_rate=args.rate,
                              soundfont=args.soundfont or FLUID_R3, splits=tuple(args.splits.split(",")),
                              progress=not args.quiet)
    if not args.quiet:
        splits = {}
        for track in manifest["tracks"].values():
            splits[track["split"]] = splits.get(track["split"], 0) + 1
        print(f"{args.out}: {splits}")
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
    from projdiff.training.presets import PRESETS, Recipe, build_data, build_model, model_card, recipe_metadata

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
                    metadata=recipe_metadata(recipe), progress=not args.quiet)
    if not args.quiet:
        print(f"saved {summary['output_dir']} after {summary['step']} steps "
              f"({summary['wall_seconds']:.0f} s), held-out loss {summary['heldout_loss']}")
    return 0


def _tumor_options(args: argparse.Namespace) -> None:
    """Reject learned-backend and filter options given without their backend or judge."""
    if args.backend != "projdiff":
        for flag, value in (("--prior", args.prior), ("--steps", args.steps)):
            if value is not None:
                raise ValueError(f"{flag}: only with --backend projdiff")
    if args.judge is None:
        for flag, value in (("--threshold", args.threshold), ("--retries", args.retries),
                            ("--discriminator", args.discriminator)):
            if value is not None:
                raise ValueError(f"{flag}: only with --judge")
    if args.discriminator is None and args.realism_threshold is not None:
        raise ValueError("--realism-threshold: only with --discriminator")


def _cmd_tumor(args: argparse.Namespace) -> int:
    from projdiff.tasks.ct.cases import load_case
    from projdiff.tasks.lesion_masks import parse_size
    from projdiff.tasks.tumor import (BACKENDS, QualityFilter, make_backend, output_paths, synthesize_tumors,
                                      write_tumor_outputs)
    from projdiff.tasks.tumor_demo import demo_case
    from projdiff.tasks.tumor_discriminator import RealismDiscriminator
    from projdiff.tasks.tumor_judge import TumorJudge

    if args.demo == (args.ct is not None):
        raise ValueError("--ct: give a CT case, file or DICOM folder, or --demo (not both)")
    if args.organ_mask is not None and args.ct is None:
        raise ValueError("--organ-mask: only with --ct")
    if args.backend not in BACKENDS:
        raise ValueError(f"--backend: expected one of {', '.join(BACKENDS)}, got {args.backend!r}")
    _tumor_options(args)
    size_mm = parse_size(args.size)
    quality = None
    if args.judge is not None:
        given = {"threshold": args.threshold, "retries": args.retries, "realism_threshold": args.realism_threshold,
                 "discriminator": RealismDiscriminator.load(args.discriminator) if args.discriminator else None}
        quality = QualityFilter(TumorJudge.load(args.judge), **{k: v for k, v in given.items() if v is not None})
    case = demo_case() if args.demo else load_case(args.ct, organ=args.organ, organ_mask=args.organ_mask)
    if not args.quiet:
        for note in case.notes:
            print(f"note: {note}", file=sys.stderr)
    out = Path(args.out)
    _check_outputs(output_paths(out, case.name, args.count, summary=quality is not None), args.overwrite)
    learned = {"prior": args.prior, "steps": args.steps, "spacing": case.ct.spacing}
    options = {k: v for k, v in learned.items() if v is not None} if args.backend == "projdiff" else {}
    backend = make_backend(args.backend, **options)
    result = synthesize_tumors(case, args.organ, args.count, size_mm, backend, seed=args.seed, quality=quality)
    paths = write_tumor_outputs(out, result, overwrite=args.overwrite)
    if not args.quiet:
        for k, lesion in enumerate(result.lesions, start=1):
            p = lesion.placement
            verdict = "" if lesion.scores is None else \
                (f", accepted after {len(lesion.scores)} attempt(s), score {lesion.scores[-1]['fraction']:.2f}"
                 if lesion.accepted else f", dropped after {len(lesion.scores)} attempts")
            print(f"{case.name}: lesion {k} in the {args.organ}, radius {p.radius_mm:.1f} mm ({p.size_class}), "
                  f"{int(p.mask.sum())} voxels{verdict}")
        print(f"wrote {len(paths)} files to {out}")
    return 0


def _add_solver_options(p: argparse.ArgumentParser, default_prior: str = "bundled:fashion-mnist-32",
                        default_steps: int | None = 100) -> None:
    p.add_argument("--prior", default=default_prior, help=f"bundled:NAME, a diffusers folder or a hub id "
                   f"(default {default_prior})")
    p.add_argument("--steps", type=_positive(int), default=default_steps,
                   help=f"noise levels (default: {default_steps or 'the recommendation of the prior, else 100'})")
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

    p = sub.add_parser("separate", help="separate a music mixture into the prior's stems", formatter_class=raw,
                       epilog="example:\n  projdiff separate mix.wav --prior bundled:chorales --out stems\n"
                              "  projdiff separate mix.wav --references truth/ --out stems   (adds SI-SDR metrics)\n"
                              "outputs: MIX_<stem>.wav per stem, MIX_spectrogram.png, MIX_metrics.json")
    p.add_argument("mixture", metavar="MIX.wav")
    p.add_argument("--out", default="stems", help="output folder (default stems)")
    p.add_argument("--sigma-y", type=float, default=0.0, help="noise level of the mixture (waveform units)")
    p.add_argument("--references", help="folder with the true <stem>.wav files, for SI-SDR metrics")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_solver_options(p, default_prior="bundled:chorales", default_steps=None)
    p.set_defaults(func=_cmd_separate)

    p = sub.add_parser("generate", help="generate missing stems that fit the given ones", formatter_class=raw,
                       epilog="example:\n  projdiff generate --given soprano=melody.wav --prior bundled:chorales --out gen")
    p.add_argument("--given", action="append", required=True, metavar="STEM=FILE", help="a given stem (repeatable)")
    p.add_argument("--out", default="generated", help="output folder (default generated)")
    p.add_argument("--restricted-encoding", action="store_true", help="reuse the initial noise (ProjDiff option)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_solver_options(p, default_prior="bundled:chorales", default_steps=None)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("data", help="build training data: 'chorales' renders Bach chorales voice by voice",
                       formatter_class=raw, epilog="example:\n  projdiff data chorales --out runs/data/chorales-8k")
    p.add_argument("dataset", choices=["chorales"])
    p.add_argument("--out", required=True, help="dataset folder (rendering resumes where it stopped)")
    p.add_argument("--count", type=_positive(int), default=120, help="four-part chorales to render (default 120)")
    p.add_argument("--rate", type=_positive(int), default=8000, help="sample rate in Hz (default 8000)")
    p.add_argument("--soundfont", help="soundfont file (default FluidR3_GM from fluid-soundfont-gm)")
    p.add_argument("--splits", default="train,validation,test", help="splits to render (default all)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("run", help="run or resume a batch job file (TOML)", formatter_class=raw,
                       epilog="example job.toml:\n  inputs = [\"images/*.png\"]\n  out = \"results\"\n"
                              "  [[tasks]]\n  task = \"sr4\"\n  sigma_y = [0.0, 0.05]\n"
                              "4 processes (same output bytes):\n"
                              "  accelerate launch --multi_gpu --num_processes 4 -m projdiff run job.toml\n"
                              "exit code: 0 all done, 1 some items failed, 130 stopped by Ctrl-C or SIGTERM, "
                              "2 bad job file or output folder in use")
    p.add_argument("job", metavar="JOB.toml")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("train", help="train a diffusion prior (accelerate; resumes from checkpoints)",
                       formatter_class=raw,
                       epilog="examples:\n  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000\n"
                              "  projdiff train --data folder:photos --image-size 64 --channels 3 --out runs/p64 --steps 5000\n"
                              "  projdiff train --preset lesions --out runs/lesion-prior --steps 20000   (lesion cache "
                              "built first in runs/data/lesions)\n"
                              "  accelerate launch -m projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000")
    p.add_argument("--preset", help="named recipe (model, data, size): fashion-mnist-32, chorales or lesions")
    p.add_argument("--data", default="fashion-mnist",
                   help="fashion-mnist, folder:PATH, patches:PATH or chorales:PATH (stems from 'projdiff data')")
    p.add_argument("--model", default="small", help="small, tiny (images), audio-small, audio-tiny (stems)")
    p.add_argument("--image-size", type=_positive(int), default=32,
                   help="training crop side (images) or segment length in samples (audio); default 32")
    p.add_argument("--channels", type=_positive(int), default=1, help="image channels (1 or 3) or stems")
    p.add_argument("--out", required=True, help="output folder (diffusers format, checkpoints inside)")
    p.add_argument("--steps", type=_positive(int), required=True, help="total optimizer steps")
    p.add_argument("--batch-size", type=_positive(int), default=None, help="global batch size (default 64)")
    p.add_argument("--lr", type=_positive(float), default=None, help="learning rate (default 5e-4)")
    p.add_argument("--checkpoint-every", type=_positive(int), default=200, help="steps between checkpoints (200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("tumor", help="synthesize tumors inside an organ of an abdominal CT", formatter_class=raw,
                       epilog="examples:\n"
                              "  projdiff tumor --ct BDMAP_00000001 --organ liver --count 2 --size 10-20mm --out t\n"
                              "  projdiff tumor --ct Task03_Liver/imagesTr/liver_0_0000.nii.gz --size small --out t\n"
                              "  projdiff tumor --ct dicom_series/ --organ-mask liver.nii.gz --out tumors\n"
                              "  projdiff tumor --demo --out tumor_demo\n"
                              "  projdiff tumor --ct BDMAP_00000001 --judge bundled:tumor-judge --out t   "
                              "(quality filter)\n"
                              "  projdiff tumor --ct BDMAP_00000001 --backend handcrafted --out t\n"
                              "inputs: an AbdomenAtlas case folder (ct.nii.gz + segmentations/), an nnU-Net/MSD image "
                              "(labelsTr + dataset.json beside it),\n  a NIfTI file or a DICOM folder/file with "
                              "--organ-mask\n"
                              "outputs: NAME_ct.nii.gz (HU, int16), NAME_labels.nii.gz (tumor code 20), "
                              "NAME_lesionK.json and NAME_lesionK.png, in the input's grid;\n  with --judge also "
                              "NAME_summary.json (acceptance per organ and size class)")
    p.add_argument("--ct", help="case folder, NIfTI file, DICOM folder or DICOM file")
    p.add_argument("--demo", action="store_true", help="use a real CT slice (pydicom-data) or the phantom")
    p.add_argument("--organ", default="liver", help="host organ (default liver)")
    p.add_argument("--organ-mask", help="NIfTI mask of --organ on the CT's grid (for inputs without labels)")
    p.add_argument("--count", type=_positive(int), default=1, help="lesions per case (default 1)")
    p.add_argument("--size", default="small", help="lesion radius: a range like 10-20mm, or tiny (3-5 mm), small "
                   "(6-10), medium (12-20), large (24-40); default small")
    p.add_argument("--backend", default="projdiff", help="lesion appearance: projdiff (default: ProjDiff inpainting "
                   "with a learned lesion prior) or handcrafted (SynTumor-style baseline)")
    p.add_argument("--prior", help="projdiff backend: lesion prior, bundled:NAME or a folder (default bundled:lesions)")
    p.add_argument("--steps", type=_positive(int), help="projdiff backend: noise levels per slice stack (default 50)")
    p.add_argument("--judge", help="quality filter: tumor judge folder (python -m projdiff.tasks.tumor_judge); "
                   "default: no filter")
    p.add_argument("--threshold", type=float, help="quality filter: accept a lesion when this share of its voxels "
                   "is judged tumor (default 0.5)")
    p.add_argument("--retries", type=int, help="quality filter: redraws of a rejected lesion before it is dropped "
                   "(default 10)")
    p.add_argument("--discriminator", help="quality filter, optional second judge: a real-versus-synthetic "
                   "discriminator folder or bundled:NAME (python -m projdiff.tasks.tumor_discriminator)")
    p.add_argument("--realism-threshold", type=float, help="quality filter: accept a lesion only when this share "
                   "of its voxels is judged real by --discriminator (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="tumors", help="output folder (default tumors)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_tumor)
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
