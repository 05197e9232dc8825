"""Command-line option types and option groups that several applications share."""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DTYPES = ("float32", "bfloat16", "float16")


def _convert(kind: Callable[[str], float], text: str):
    """``kind(text)``, or the argparse error naming what was expected."""
    try:
        return kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def positive(kind: Callable[[str], float], at_most: float | None = None,
             at_least: float | None = None) -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` that must be finite, > 0 and (optionally) in [``at_least``, ``at_most``]."""

    def parse(text: str):
        value = _convert(kind, text)
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
        if (at_most is not None and value > at_most) or (at_least is not None and value < at_least):
            low = "(0" if at_least is None else f"[{at_least:g}"
            high = "inf)" if at_most is None else f"{at_most:g}]"
            raise argparse.ArgumentTypeError(f"expected a number in {low}, {high}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid ... value" messages
    return parse


def finite(text: str) -> float:
    """An argparse type: a finite float (no nan or inf)."""
    value = _convert(float, text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def seed(text: str) -> int:
    """An argparse type: a random seed, an int in [0, 2**63)."""
    value = _convert(int, text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {text}")
    return value


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (checked against the machine by ``device_of``)."""
    if not DEVICE_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def add_device_options(p: argparse.ArgumentParser, dtype: bool = True) -> None:
    """``--device`` and (unless ``dtype`` is False: commands that train small networks in float32)
    ``--dtype``, as every command that runs a network has them."""
    p.add_argument("--device", type=device_name, default="auto",
                   help="auto (CUDA when present, else the CPU; default), cpu, cuda or cuda:N")
    if dtype:
        p.add_argument("--dtype", choices=DTYPES, default="float32",
                       help="precision of the network's weights and activations (default float32); the solver's "
                            "own arithmetic stays float32")


def device_of(text: str):
    """The ``torch.device`` of ``--device TEXT``; ValueError when the machine has no such device."""
    import torch

    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {text}: no CUDA device is available on this machine; use --device cpu or auto")
    index = int(text.partition(":")[2] or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(0..{torch.cuda.device_count() - 1})")
    return torch.device("cuda", index)


def dtype_of(text: str):
    """The ``torch.dtype`` of ``--dtype TEXT``."""
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[text]


def add_solver_options(p: argparse.ArgumentParser, default_prior: str = "bundled:fashion-mnist-32",
                       default_steps: int | None = 100) -> None:
    """``--prior``, ``--steps``, ``--seed``, ``--quiet``, ``--device`` and ``--dtype``, as every command that
    runs a prior has them."""
    p.add_argument("--prior", default=default_prior, help=f"bundled:NAME, a diffusers folder or a hub id "
                   f"(default {default_prior})")
    p.add_argument("--steps", type=positive(int, at_most=100_000), default=default_steps,
                   help=f"noise levels (default: {default_steps or 'the recommendation of the prior, else 100'})")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_device_options(p)
