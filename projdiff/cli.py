"""The ``projdiff`` command line: one entry point, one subcommand per job.

Bad input exits with code 2 and one line on stderr that names the argument or file.
"""

from __future__ import annotations

import argparse
import shlex
import sys

EXAMPLES = """examples:
  projdiff demo                                   restore a test image with the bundled prior
  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 12000
"""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _cmd_train(args: argparse.Namespace) -> int:
    from projdiff.training import TrainConfig, build_preset, train
    from projdiff.training.presets import PRESETS, model_card

    unet, scheduler, dataset, validation, data_text = build_preset(args.preset, seed=args.seed)
    defaults = PRESETS[args.preset].defaults
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size or defaults.get("batch_size", 64),
        learning_rate=args.lr or defaults.get("learning_rate", 5e-4),
        checkpoint_every=args.checkpoint_every,
        validate_every=args.checkpoint_every,
        seed=args.seed,
    )
    command = "projdiff " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    n_params = sum(p.numel() for p in unet.parameters())
    card = model_card(PRESETS[args.preset], data_text, command, n_params)
    summary = train(unet, scheduler, dataset, args.out, config, validation=validation, card=card,
                    progress=not args.quiet)
    if not args.quiet:
        print(f"saved {summary['output_dir']} after {summary['step']} steps "
              f"({summary['wall_seconds']:.0f} s), held-out loss {summary['heldout_loss']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="projdiff",
        description="Solve inverse problems with diffusion priors (ProjDiff).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a diffusion prior (accelerate; resumes from checkpoints)",
                       epilog="example:\n  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 12000\n"
                              "  accelerate launch -m projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 12000",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True, help="training recipe (model, schedule, data)")
    p.add_argument("--out", required=True, help="output folder (diffusers format, checkpoints inside)")
    p.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    p.add_argument("--batch-size", type=int, default=None, help="global batch size (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"projdiff {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
