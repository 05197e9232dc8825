"""``projdiff train``: train a diffusion prior on any application's recipe (accelerate; resumes)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from projdiff.apps.arguments import add_device_options, positive, seed
from projdiff.apps.base import Command
from projdiff.cli.applications import APPLICATIONS
from projdiff.training import ARCHITECTURES, Recipe


def presets() -> dict[str, Recipe]:
    return {name: recipe for app in APPLICATIONS for name, recipe in app.presets.items()}


def architectures() -> dict:
    return {**ARCHITECTURES, **{name: a for app in APPLICATIONS for name, a in app.architectures.items()}}


def data_source(text: str):
    """The ``DataSource`` of ``--data NAME`` or ``--data NAME:PATH``; ValueError listing the kinds."""
    kinds = {kind.name: kind for app in APPLICATIONS for kind in app.data_sources}
    name, sep, path = text.partition(":")
    kind = kinds.get(name)
    if kind is None or kind.takes_path != bool(sep and path):
        raise ValueError(f"--data: expected {', '.join(k.usage for k in kinds.values())}, got {text!r}")
    return kind.make(path)


def recipe_of(args: argparse.Namespace) -> Recipe:
    """The recipe of ``--preset`` (its data replaced by ``--data`` when given, e.g. a copy elsewhere), or one
    built from ``--model``, ``--data``, ``--image-size`` and ``--channels``."""
    if args.preset is not None:
        named = presets()
        if args.preset not in named:
            raise ValueError(f"--preset: expected one of {sorted(named)}, got {args.preset!r}")
        return named[args.preset] if args.data is None else replace(named[args.preset], data=data_source(args.data))
    models = architectures()
    if args.model not in models:
        raise ValueError(f"--model: expected one of {sorted(models)}, got {args.model!r}")
    architecture = models[args.model]
    shape = (args.channels,) + (args.image_size,) * architecture.spatial_dims
    return Recipe(architecture, data_source(args.data or "fashion-mnist"), shape)


def add_arguments(p: argparse.ArgumentParser) -> None:
    kinds = ", ".join(k.usage for app in APPLICATIONS for k in app.data_sources)
    p.add_argument("--preset", help=f"named recipe (model, data, size): {', '.join(sorted(presets()))}")
    p.add_argument("--data", help=f"{kinds} (default fashion-mnist, or the preset's data)")
    p.add_argument("--model", default="small", help=f"architecture: {', '.join(architectures())} (default small)")
    p.add_argument("--image-size", type=positive(int), default=32,
                   help="training crop side (2D models) or segment length in samples (1D models); default 32")
    p.add_argument("--channels", type=positive(int), default=1, help="channels: image channels (1 or 3) or stems")
    p.add_argument("--out", required=True, help="output folder (diffusers format, checkpoints inside)")
    p.add_argument("--steps", type=positive(int), required=True, help="total optimizer steps")
    p.add_argument("--batch-size", type=positive(int), default=None, help="global batch size (default 64)")
    p.add_argument("--lr", type=positive(float, at_most=1.0), default=None, help="learning rate (default 5e-4)")
    p.add_argument("--sigma-range", nargs=2, type=positive(float), metavar=("LOW", "HIGH"), default=None,
                   help="train only at noise levels LOW..HIGH (model data units, log-uniform), e.g. a sampler's "
                        "range (default: all time steps)")
    p.add_argument("--checkpoint-every", type=positive(int), default=200,
                   help="steps between checkpoints and held-out loss evaluations (200)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)


def accelerator_options(args: argparse.Namespace) -> dict:
    """``accelerate.Accelerator`` options of ``--device`` and ``--dtype`` (the launcher's settings otherwise).

    ``--dtype`` sets mixed precision (the weights stay float32): bfloat16 -> bf16, float16 -> fp16.
    """
    import torch

    from projdiff.apps.arguments import device_of

    device = device_of(args.device)
    options = {"cpu": True} if device.type == "cpu" else {}
    if device.type == "cuda" and device.index is not None and args.device != "auto":
        torch.cuda.set_device(device)  # a single process on cuda:N
    if args.dtype != "float32":
        options["mixed_precision"] = {"bfloat16": "bf16", "float16": "fp16"}[args.dtype]
    return options


def check_fits(recipe: Recipe, unet, batch_size: int, device) -> None:
    """Refuse sizes the UNet cannot take (sides multiples of 2^(levels-1)) or memory cannot hold."""
    from projdiff.apps.budget import TRAINING_FACTOR, check_memory, unet_bytes

    multiple = 2 ** max(len(unet.config.down_block_types) - 1, 0)
    if recipe.size % multiple:
        raise ValueError(f"--image-size: expected a multiple of {multiple} for the `{recipe.architecture.name}` "
                         f"architecture ({len(unet.config.down_block_types)} levels), got {recipe.size}")
    per_process = -(-batch_size // int(os.environ.get("WORLD_SIZE", "1")))  # accelerate launch sets WORLD_SIZE
    needed = per_process * TRAINING_FACTOR * unet_bytes(dict(unet.config), recipe.shape[1:])
    check_memory(f"--batch-size {batch_size} at --image-size {recipe.size}", needed, device,
                 "use a smaller batch or image size")


def run(args: argparse.Namespace) -> int:
    from projdiff.priors.prediction import log_sigma_uniform_weights
    from projdiff.training import TrainConfig, build_model, model_card, train

    from projdiff.apps.arguments import device_of

    recipe = recipe_of(args)
    options = accelerator_options(args)
    unet, scheduler = build_model(recipe, seed=args.seed)
    sigma_range = tuple(args.sigma_range) if args.sigma_range else None
    if sigma_range is not None:
        log_sigma_uniform_weights(scheduler, sigma_range, name="--sigma-range")
    batch_size = args.batch_size or recipe.batch_size
    check_fits(recipe, unet, batch_size, device_of(args.device))
    data = recipe.data.load(recipe, seed=args.seed)
    config = TrainConfig(steps=args.steps, batch_size=batch_size, learning_rate=args.lr or recipe.learning_rate,
                         checkpoint_every=args.checkpoint_every, validate_every=args.checkpoint_every, seed=args.seed,
                         sigma_range=sigma_range)
    command = "projdiff " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    name = args.preset or Path(args.out).name
    card = model_card(name, recipe, data.description, command, sum(p.numel() for p in unet.parameters()))
    summary = train(unet, scheduler, data.train, args.out, config, validation=data.validation, card=card,
                    metadata=data.metadata, progress=not args.quiet, accelerator_options=options)
    if not args.quiet:
        print(f"saved {summary['output_dir']} after {summary['step']} steps "
              f"({summary['wall_seconds']:.0f} s), held-out loss {summary['heldout_loss']}")
    return 0


COMMAND = Command(
    "train", "train a diffusion prior (accelerate; resumes from checkpoints)", add_arguments, run,
    epilog="examples:\n  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000\n"
           "  projdiff train --data folder:photos --image-size 64 --channels 3 --out runs/p64 --steps 5000\n"
           "  projdiff train --preset lesions --out runs/lesion-prior --steps 20000   (lesion cache "
           "built first in runs/data/lesions)\n"
           "  accelerate launch -m projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000\n"
           "  projdiff train --preset chorales --data chorales:runs/data/chorales-8k-archive --out runs/chorales "
           "--steps 20000   (the preset on a copied archive; resumes from runs/chorales/checkpoints)")
