"""The held-out excerpt test's protocol on every test chorale: NMF, then ProjDiff started from NMF's estimate.

    python benchmarks/warm_start_excerpts.py --write      # 10 test chorales, 2 s .. 8 s, bundled:chorales-isdm
    python benchmarks/warm_start_excerpts.py --quick      # 2 chorales, 2 s each, 3 levels; prints only

For each test chorale of ``--data``, the excerpt from ``--start`` (default 2 s) of ``--seconds`` (default 6 s)
is mixed and separated twice:

- ``NMF``: supervised KL-NMF with the prior's shipped dictionaries (``nmf.safetensors`` of the prior's
  folder, or ``--nmf FILE``);
- ``warm``: ProjDiff started from that estimate, 10 levels from ``--warm-start`` (default sigma 0.01,
  waveform units) down to the prior's lowest: what ``projdiff separate --init nmf`` does.

Scores: plain SI-SDR of each stem over the whole excerpt (as in the test, not the MSDM windows of
``separation.py``); the table gives the warm start minus NMF per stem (dB; > 0 = the prior improves
NMF's estimate). It shows how the chorale of the held-out excerpt test
(``tests/apps/audio/test_audio.py``, the first test chorale in name order) compares with the others.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _chorales import add_chorale_arguments, prior_and_tracks  # noqa: E402
from _results import emit, table  # noqa: E402

from projdiff.apps.audio.chorales import STEMS  # noqa: E402
from projdiff.apps.audio.metrics import si_sdr  # noqa: E402
from projdiff.apps.audio.nmf import NMFModel, shipped_dictionaries  # noqa: E402
from projdiff.apps.audio.separation import separate  # noqa: E402
from projdiff.apps.audio.stem_prior import AudioPrior  # noqa: E402


def excerpt_scores(stems: torch.Tensor, rate: int, audio_prior: AudioPrior, nmf: NMFModel, start_sigma: float,
                   steps: int) -> tuple[list[float], list[float]]:
    """SI-SDR (dB) of every stem of the (K, N) ``stems``' mixture: NMF's estimate, then the warm start's."""
    mixture = stems.sum(0)[None].float()
    first = nmf.estimate(mixture, rate, STEMS)
    warm = separate(mixture, rate, audio_prior, steps=steps, seed=0, init=first,
                    sigmas=audio_prior.warm_start_sigmas(start_sigma, steps))[0]
    truth = stems.double()
    return ([float(si_sdr(first[0, k].double(), truth[k])) for k in range(len(STEMS))],
            [float(si_sdr(warm[k].double(), truth[k])) for k in range(len(STEMS))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_chorale_arguments(parser)
    parser.set_defaults(prior="bundled:chorales-isdm", seconds=6.0)
    parser.add_argument("--start", type=float, default=2.0, help="excerpt start in seconds (default 2)")
    parser.add_argument("--warm-start", type=float, default=0.01, help="first noise level (default 0.01)")
    parser.add_argument("--nmf", help="NMF dictionaries (default: the prior folder's nmf.safetensors)")
    parser.add_argument("--section", default="warm-start-excerpts", help="RESULTS.md section to write")
    args = parser.parse_args()
    if args.start < 0 or args.seconds <= 0:
        parser.error(f"--start/--seconds: expected start >= 0 and a positive length, got {args.start:g} and "
                     f"{args.seconds:g}")
    nmf_file = args.nmf or shipped_dictionaries(args.prior)
    nmf_note = f"`{args.nmf}`" if args.nmf else f"`{args.prior}`'s `nmf.safetensors`"
    if nmf_file is None:
        parser.error(f"--nmf: {args.prior} ships no nmf.safetensors; give the dictionaries of 'projdiff fit-nmf'")
    audio_prior, tracks, rate = prior_and_tracks(parser, args.prior, Path(args.data) / "test")
    names = sorted(p.name for p in (Path(args.data) / "test").iterdir() if p.is_dir())
    seconds, steps = (2.0, 3) if args.quick else (args.seconds, args.steps or 10)
    if args.quick:
        tracks, names = tracks[:2], names[:2]
    first, last = int(args.start * rate), int((args.start + seconds) * rate)
    short = [n for n, t in zip(names, tracks) if t.shape[1] < last]
    if short:
        parser.error(f"--start/--seconds: the excerpt ends at {args.start + seconds:g} s, after the end of "
                     f"{', '.join(short)}")
    nmf = NMFModel.load(nmf_file)
    rows, every = [], 0
    started = time.time()
    for name, track in zip(names, tracks):
        base, warm = excerpt_scores(torch.as_tensor(track)[:, first:last], rate, audio_prior, nmf,
                                    args.warm_start, steps)
        gains = [w - b for b, w in zip(base, warm)]
        every += all(g > 0 for g in gains)
        rows.append([name] + [f"{g:+.2f}" for g in gains] + [f"{sum(base) / len(base):.2f}",
                                                               f"{sum(warm) / len(warm):.2f}",
                                                               f"{sum(gains) / len(gains):+.2f}"])
        print(rows[-1], flush=True)
    body = (f"Test chorales of `{args.data}`, the excerpt from {args.start:g} s to {args.start + seconds:g} s of "
            f"each, {rate} Hz; NMF dictionaries {nmf_note}; warm start: ProjDiff with prior `{args.prior}` "
            f"from NMF's estimate, {steps} levels from sigma {args.warm_start:g} (waveform units). Plain SI-SDR "
            "over the excerpt; per stem the warm start minus NMF in dB (> 0 = the prior improves NMF's estimate), "
            "then the average SI-SDR of each.\n\n"
            + table(["chorale"] + [f"{s} warm - NMF" for s in STEMS]
                    + ["NMF avg SI-SDR", "warm avg SI-SDR", "avg warm - NMF"], rows)
            + f"\nEvery stem above NMF on {every} of {len(rows)} excerpts; "
            f"{time.time() - started:.0f} s of compute.\n")
    emit(args.write, args.section, "Warm start from NMF on an excerpt of every test chorale (audio issue)", body)


if __name__ == "__main__":
    main()
