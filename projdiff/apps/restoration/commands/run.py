"""``projdiff run``: run or resume a batch job file (inputs x tasks x settings), sharded by process."""

from __future__ import annotations

import argparse

from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB.toml")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    import gc

    import torch.distributed as dist

    from projdiff.apps.restoration.jobs import run_job

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


COMMAND = Command(
    "run", "run or resume a batch job file (TOML)", add_arguments, run,
    epilog="example job.toml:\n  inputs = [\"images/*.png\"]\n  out = \"results\"\n"
           "  [[tasks]]\n  task = \"sr4\"\n  sigma_y = [0.0, 0.05]\n"
           "4 processes (same output bytes):\n"
           "  accelerate launch --multi_gpu --num_processes 4 -m projdiff run job.toml\n"
           "exit code: 0 all done, 1 some items failed, 130 stopped by Ctrl-C or SIGTERM, "
           "2 bad job file or output folder in use")
