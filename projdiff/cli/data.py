"""``projdiff data NAME``: build an application's training data (the applications' dataset commands)."""

from __future__ import annotations

import argparse

from projdiff.apps.base import Command
from projdiff.cli.applications import APPLICATIONS

DATASETS = tuple(dataset for app in APPLICATIONS for dataset in app.datasets)


def run(args: argparse.Namespace) -> int:
    raise ValueError(f"DATASET: expected one of {', '.join(d.name for d in DATASETS)}")


COMMAND = Command("data", f"build training data: {', '.join(d.name for d in DATASETS)}", lambda p: None, run,
                  epilog="examples:\n" + "".join(f"  projdiff data {d.name} --out runs/data/{d.name}\n"
                                                 for d in DATASETS),
                  actions=DATASETS)
