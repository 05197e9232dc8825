"""Paired comparisons over repeats (seeds) x units (cases or lesions): means and two-way bootstrap intervals.

A benchmark repeats a comparison of two arms over training runs (seeds) and evaluates each run on the
same test units (cases, or lesions). ``diffs[s, u]`` = metric of arm B minus that of arm A for run
``s`` and unit ``u`` (NaN where undefined). Both the runs and the units are samples, so the interval
resamples both (a two-way bootstrap: seeds with replacement, and units with replacement,
independently), covering the training's variation as well as the choice of test cases.
"""

from __future__ import annotations

import numpy as np


def two_way_interval(diffs: np.ndarray, resamples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of ``diffs`` (seeds x units), with a two-way bootstrap interval.

    With one seed only the units are resampled (the interval then ignores the training's variation).
    """
    diffs = np.asarray(diffs, float)
    if diffs.ndim != 2 or not np.isfinite(diffs).any():
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    seeds, units = diffs.shape
    means = np.empty(resamples)
    for b in range(resamples):
        rows = rng.integers(0, seeds, seeds) if seeds > 1 else np.zeros(1, int)
        cols = rng.integers(0, units, units)
        means[b] = np.nanmean(diffs[np.ix_(rows, cols)])
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(means, [tail, 100 - tail])
    return float(np.nanmean(diffs)), float(low), float(high)


def seeds_needed(seeds: int, width: float, target: float) -> int:
    """Seeds for an interval of ``target`` width when ``seeds`` gave ``width`` (width ~ 1 / sqrt(seeds))."""
    if not np.isfinite(width) or width <= 0:
        return seeds
    return max(seeds, int(np.ceil(seeds * (width / target) ** 2)))
