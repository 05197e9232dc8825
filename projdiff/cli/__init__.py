"""The ``projdiff`` command line: one entry point; each application brings its own subcommands.

Subcommands come from the applications (``applications.py``) plus ``train`` and ``data``, which
serve every application. Bad input (a missing or corrupt file, an unknown task, a wrong size, an
existing output, a full disk) exits with code 2 and one line on stderr that names the argument or
file; this is the one place where that happens (``errors.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys

from projdiff.apps.base import Command
from projdiff.cli import data, train
from projdiff.cli.errors import Parser, UsageError, install_sigterm, report, safe_streams, unrecognized
from projdiff.cli.applications import APPLICATIONS

EXAMPLES = """examples:
  projdiff demo                                        restore the bundled test images (writes demo/demo_grid.png)
  projdiff restore shirt.png --task sr4 --sigma-y 0.05 --out results
  projdiff restore a.png b.png --task inpaint --fraction 0.3 --samples 8 --seed 1 --out results
  projdiff restore photo.jpg --task deblur --blur-sigma 1.5 --prior path/to/diffusers-folder --out results
  projdiff restore low.png --measurement --task sr4 --out results      (low.png is the measurement)
  projdiff run job.toml                                batch job: inputs x tasks x settings, resumable
  projdiff separate mix.wav --prior bundled:chorales --out stems
  projdiff generate --given soprano=melody.wav --out generated
  projdiff tumor --demo --out tumor_demo               lesions in a real CT slice
  projdiff train --preset fashion-mnist-32 --out runs/fm32 --steps 10000
  accelerate launch --multi_gpu --num_processes 4 -m projdiff run job.toml   share a job between 4 CPU processes

Priors (--prior): bundled:photos-rgb (restore's default: photographs, RGB or gray), bundled:fashion-mnist-32
(the demo's), bundled:chorales (audio), bundled:chorales-isdm (audio separation), a local diffusers folder,
a guided-diffusion .pt file, or a hub id.
Pixel values are in [0, 1] and --sigma-y is in those units.
"""


def commands() -> tuple[Command, ...]:
    """Every top-level subcommand: the applications' own, then ``train`` and ``data``."""
    return tuple(c for app in APPLICATIONS for c in app.commands) + (train.COMMAND, data.COMMAND)


def _add(sub, command: Command, key: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(command.name, help=command.help, epilog=command.epilog or None,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_arguments(parser)
    parser.set_defaults(**{key: command})
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``projdiff`` parser; ``parser.subcommands`` maps "restore", "tumor train-judge"... to their parsers."""
    parser = Parser(prog="projdiff", description="Solve inverse problems with diffusion priors (ProjDiff).",
                    epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"projdiff {_version()}")
    parser.subcommands = {}
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands():
        p = parser.subcommands[command.name] = _add(sub, command, "run_command")
        if command.actions:
            actions = p.add_subparsers(dest="action", metavar="ACTION")
            for action in command.actions:
                parser.subcommands[f"{command.name} {action.name}"] = _add(actions, action, "run_action")
    return parser


def _version() -> str:
    from projdiff import __version__

    return __version__


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; arguments a subcommand does not know are reported against that subcommand."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        name = " ".join(n for n in (args.command, getattr(args, "action", None)) if n)
        raise unrecognized(parser.subcommands.get(name, parser), extras)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run ``projdiff ARGV``; returns the exit code (0 done, 1 some items failed or a bug, 2 bad input,
    130 Ctrl-C, 143 SIGTERM)."""
    safe_streams()
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except UsageError as exc:
        return report("", exc)
    if args.command is None:
        parser.print_help()
        return 2
    command = getattr(args, "run_action", None) or args.run_command
    name = " ".join(n for n in (args.command, getattr(args, "action", None)) if n)
    previous = install_sigterm()
    try:
        return command.run(args)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes one line (errors.report)
        if isinstance(exc, SystemExit):
            raise
        return report(name, exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
