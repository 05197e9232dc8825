"""Does a multi-stem prior use one stem to denoise the others? The premise of partial generation, measured.

    python benchmarks/stem_dependence.py --write                    # bundled:chorales, validation chorales
    python benchmarks/stem_dependence.py --prior bundled:chorales-isdm --section stem-dependence-isdm --write
    python benchmarks/stem_dependence.py --quick                    # 2 chorales, 2 noise levels; prints only

Segments of the prior's length (three per chorale, from 2 s, 6 s and 10 s) of the validation chorales of
``--data`` are noised at each level (waveform units, the same noise for both passes) and denoised twice by
the prior: once as they are, and once with one stem (the *given* stem) replaced by the same stem of
another chorale (with ``--clean-given``, the given stem is shown without noise, as an imputation sampler
that clamps it would show it). Partial generation (``projdiff generate --given``) can only follow the
given stem if the denoiser's estimate of the other stems depends on it, so the table gives, per given
stem and level, the
mean squared error of each other stem's estimate with the wrong given stem divided by that with the right
one: 1 = the denoiser ignores the given stem; > 1 = the right given stem helps. Independent per-stem
priors (``bundled:chorales-isdm``) give exactly 1 by construction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _chorales import add_chorale_arguments, prior_and_tracks  # noqa: E402
from _results import emit, table  # noqa: E402

from projdiff.apps.audio.chorales import STEMS  # noqa: E402

LEVELS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
OFFSETS = (2, 6, 10)  # seconds


def segments(tracks, rate: int, length: int, offsets=OFFSETS) -> torch.Tensor:
    """(B, K, length) segments from every (K, N) track at each offset (s), chorale by chorale."""
    return torch.stack([torch.as_tensor(t[:, o * rate: o * rate + length]) for t in tracks for o in offsets]).float()


def error_ratios(prior, x: torch.Tensor, given: int, sigma: float, shift: int, seed: int = 0,
                 clean_given: bool = False) -> list[float]:
    """Per stem: MSE of the denoised stem with stem ``given`` swapped for that of the segment ``shift`` places on
    (another chorale) divided by the MSE with the right one; ``x`` (B, K, N) in waveform units. With
    ``clean_given`` the given stem is shown without noise (as an imputation sampler would show it)."""
    wrong = x.clone()
    wrong[:, given] = torch.roll(x[:, given], shift, dims=0)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * sigma
    if clean_given:
        noise[:, given] = 0
    levels = torch.full((x.shape[0],), sigma)
    with torch.no_grad():
        right_error = (prior.denoise(x + noise, levels) - x).pow(2).mean(dim=(0, 2))
        wrong_error = (prior.denoise(wrong + noise, levels) - x).pow(2).mean(dim=(0, 2))
    return (wrong_error / right_error).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_chorale_arguments(parser)
    parser.add_argument("--split", default="validation", help="chorales to use (default validation)")
    parser.add_argument("--clean-given", action="store_true",
                        help="show the given stem without noise (the others noised as usual)")
    parser.add_argument("--section", default="stem-dependence", help="RESULTS.md section to write")
    args = parser.parse_args()
    audio_prior, tracks, rate = prior_and_tracks(parser, args.prior, Path(args.data) / args.split)
    if tuple(audio_prior.card.stems) != tuple(STEMS):
        parser.error(f"--prior: expected a prior of the stems {', '.join(STEMS)}, "
                     f"got {', '.join(audio_prior.card.stems)}")
    levels, offsets = ((0.01, 0.1), (0,)) if args.quick else (LEVELS, OFFSETS)
    if args.quick:
        tracks = tracks[:2]
    length = audio_prior.card.segment
    short = [i for i, t in enumerate(tracks) if t.shape[1] < max(offsets) * rate + length]
    if short:
        parser.error(f"--data: {len(short)} {args.split} chorale(s) shorter than {max(offsets)} s plus one segment")
    x = segments(tracks, rate, length, offsets)
    prior = audio_prior.waveform_prior()
    rows = []
    for given, name in enumerate(STEMS):
        for sigma in levels:
            ratios = error_ratios(prior, x, given, sigma, shift=len(offsets), clean_given=args.clean_given)
            rows.append([name, f"{sigma:g}"] + ["-" if k == given else f"{r:.4f}" for k, r in enumerate(ratios)])
        print(rows[-1], flush=True)
    body = (f"{len(tracks)} {args.split} chorales of `{args.data}`, {x.shape[0]} segments of {length} samples "
            f"({rate} Hz), prior `{args.prior}`; the given stem "
            + ("shown without noise, the others noised. " if args.clean_given else "noised like the others. ")
            + "Per given stem and noise level (waveform units; the stems' "
            "standard deviation is about 0.03 to 0.06): MSE of each other stem's denoised estimate when the given "
            "stem is another chorale's, divided by the MSE when it is the right one (1 = the given stem is "
            "ignored).\n\n" + table(["given stem", "sigma"] + [f"{s} MSE ratio" for s in STEMS], rows))
    emit(args.write, args.section, "Does the prior use the given stem? (audio issue, partial generation)", body)


if __name__ == "__main__":
    main()
