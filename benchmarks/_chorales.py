"""Command-line options and track handling shared by the chorale benchmarks (separation, generation)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence, TypeVar

import numpy as np

Track = TypeVar("Track")  # a (K, N) array or tensor


def add_chorale_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--prior``, ``--steps``, ``--seconds``, ``--quick`` and ``--write``."""
    parser.add_argument("--data", default="runs/data/chorales-8k")
    parser.add_argument("--prior", default="bundled:chorales")
    parser.add_argument("--steps", type=int, help="noise levels (default: the prior's recommended sampler)")
    parser.add_argument("--seconds", type=float, help="use the first SECONDS of every test chorale (default: all)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")


def prior_and_tracks(parser: argparse.ArgumentParser, prior: str, folder: Path):
    """``(audio_prior, tracks, rate)``: the audio prior ``--prior`` names and the (K, N) chorale tracks under
    ``folder`` (from ``--data``); a bad one ends the script with one ``parser.error`` line (exit 2)."""
    import projdiff
    from projdiff.apps.audio.chorales import STEMS
    from projdiff.apps.audio.stem_prior import AudioPrior
    from projdiff.apps.audio.stems import load_tracks

    try:
        audio_prior = AudioPrior.of(projdiff.load_prior(prior))
    except (OSError, ValueError) as exc:
        text = str(exc)                                        # projdiff's messages start with "prior: "
        parser.error("--" + text if text.startswith("prior: ") else f"--prior {prior}: {text}")
    try:
        tracks, rate = load_tracks(folder, STEMS)
    except (OSError, ValueError) as exc:
        parser.error(f"--data: {exc}")
    return audio_prior, tracks, rate


def first_seconds(tracks: Sequence[Track], seconds: float | None, rate: int) -> list[Track]:
    """The first ``seconds`` of every (K, N) track at ``rate`` Hz; all of them when ``seconds`` is None."""
    return [t[:, : int(seconds * rate)] for t in tracks] if seconds else list(tracks)


def length_note(seconds: float | None) -> str:
    """How much of every track a report used."""
    return f"the first {seconds:g} s of each" if seconds else "whole tracks"


def mean_interval(values: Sequence[float], resamples: int = 2000) -> tuple[float, float, float]:
    """Mean of per-chorale values with a 95% bootstrap interval over the chorales (seeded): ``(mean, low, high)``.

    The interval covers the choice of test chorales, not the randomness of one run."""
    x = np.asarray(values, dtype=float)
    means = x[np.random.default_rng(0).integers(0, len(x), (resamples, len(x)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(x.mean()), float(low), float(high)
