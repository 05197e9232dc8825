"""``projdiff run``: run or resume a batch job file (inputs x tasks x settings), sharded by process."""

from __future__ import annotations

import argparse
import sys

from projdiff.apps.arguments import DTYPES, device_name
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB.toml")
    p.add_argument("--quiet", action="store_true", help="no progress output (failures are still reported)")
    p.add_argument("--allow-outside", action="store_true",
                   help="let the job file's out folder lie outside the job file's folder")
    p.add_argument("--device", type=device_name, default=None,
                   help="auto, cpu, cuda or cuda:N (default: the job file's device key, else auto)")
    p.add_argument("--dtype", choices=DTYPES, default=None,
                   help="network precision (default: the job file's dtype key, else float32)")


def run(args: argparse.Namespace) -> int:
    import gc

    import torch.distributed as dist

    from projdiff.apps.restoration.jobs import run_job

    try:
        summary = run_job(args.job, progress=not args.quiet, allow_outside=args.allow_outside, device=args.device,
                          dtype=args.dtype)
    finally:  # under a launcher: close the process group, or gloo may abort the process at exit
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
            gc.collect()
    if summary["this_process"] == 0:
        if not args.quiet:
            print(f"{summary['done']} of {summary['items']} items done, {len(summary['failed'])} failed, "
                  f"{summary['pending']} pending")
        stream = sys.stderr if args.quiet else sys.stdout
        if args.quiet and summary["failed"]:
            print(f"projdiff run: {len(summary['failed'])} of {summary['items']} items failed", file=stream)
        for failure in summary["failed"]:
            print(f"  failed {failure['id']}: {failure['error']}", file=stream)
    if summary["stopped_early"]:
        return 130
    return 1 if summary["failed"] else 0


COMMAND = Command(
    "run", "run or resume a batch job file (TOML)", add_arguments, run,
    epilog="example job.toml:\n  inputs = [\"images/*.png\"]\n  out = \"results\"\n"
           "  [[tasks]]\n  task = \"sr4\"\n  sigma_y = [0.0, 0.05]\n"
           "paths (inputs, mask, kernel, out) are relative to the job file; out must lie inside its folder\n"
           "  unless --allow-outside\n"
           "4 processes (same output bytes):\n"
           "  accelerate launch --multi_gpu --num_processes 4 -m projdiff run job.toml\n"
           "exit code: 0 all done, 1 some items failed, 130 stopped by Ctrl-C or SIGTERM, "
           "2 bad job file or output folder in use")
