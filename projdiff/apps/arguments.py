"""Command-line option types and option groups that several applications share."""

from __future__ import annotations

import argparse
from typing import Callable


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` that must be > 0."""

    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value

    return parse


def add_solver_options(p: argparse.ArgumentParser, default_prior: str = "bundled:fashion-mnist-32",
                       default_steps: int | None = 100) -> None:
    """``--prior``, ``--steps``, ``--seed`` and ``--quiet``, as every command that runs a prior has them."""
    p.add_argument("--prior", default=default_prior, help=f"bundled:NAME, a diffusers folder or a hub id "
                   f"(default {default_prior})")
    p.add_argument("--steps", type=positive(int), default=default_steps,
                   help=f"noise levels (default: {default_steps or 'the recommendation of the prior, else 100'})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
