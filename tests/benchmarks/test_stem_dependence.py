"""The stem-dependence measure of benchmarks/stem_dependence.py: exactly 1 for a denoiser that treats stems
on their own, above 1 for one that reads the given stem."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from stem_dependence import error_ratios  # noqa: E402


class Shrink:
    """Each stem denoised on its own: x / (1 + sigma^2) (the posterior mean of unit-variance Gaussian stems)."""

    def denoise(self, x, sigma):
        return x / (1 + sigma[:, None, None] ** 2)


class CopiesStemZero(Shrink):
    """Stem 1 estimated from stem 0 (for data where they are equal), the others as ``Shrink``."""

    def denoise(self, x, sigma):
        out = super().denoise(x, sigma)
        out[:, 1] = out[:, 0]
        return out


def test_error_ratios_are_one_for_independent_stems_and_above_one_when_the_given_stem_is_used():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 64)
    x[:, 1] = x[:, 0]                                   # stem 1 is a copy of stem 0
    independent = error_ratios(Shrink(), x, given=0, sigma=0.5, shift=1)
    assert independent[1] == independent[2] == 1.0
    reading = error_ratios(CopiesStemZero(), x, given=0, sigma=0.5, shift=1)
    assert reading[1] > 2.0 and reading[2] == 1.0


def test_a_clean_given_stem_is_shown_without_noise():
    torch.manual_seed(0)
    x = torch.randn(4, 2, 32)
    x[:, 1] = x[:, 0]

    class ReadsStemZeroRaw:
        def denoise(self, noisy, sigma):
            return noisy[:, [0, 0]]                       # both stems estimated by stem 0 as given

    noisy = error_ratios(ReadsStemZeroRaw(), x, given=0, sigma=0.3, shift=1)
    clean = error_ratios(ReadsStemZeroRaw(), x, given=0, sigma=0.3, shift=1, clean_given=True)
    assert clean[1] > noisy[1] > 1.0                       # with the right stem shown clean, stem 1 is exact
