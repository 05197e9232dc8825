"""Source separation of the test chorales: ProjDiff with the bundled prior against NMF and the oracle mask.

    python benchmarks/separation.py --write                 # full table into benchmarks/RESULTS.md
    python benchmarks/separation.py --quick --prior DIR     # smoke run on 2 short excerpts, prints only
    python benchmarks/separation.py --nmf nmf.safetensors --no-projdiff --warm-start 0.003 0.01 --tracks 4 \
        --seconds 8 --section separation-warm-start --write  # the warm-start check on a few chorales

Data: the dataset built by ``projdiff data chorales --out runs/data/chorales-8k`` (8 kHz; test split =
the ten chorales of shared/docs/separation-baselines.md); with ``--timbre-shift`` also the same test
chorales rendered with the TimGM6mb soundfont (a timbre neither method saw in training).

Methods (STFT: n_fft 512 = 64 ms, hop 128, periodic Hann, centred):
- ``projdiff``: `projdiff.apps.audio.separation.separate` with the prior (segments of the prior's length, 25% overlap);
- ``NMF``: supervised KL-NMF (``projdiff.apps.audio.nmf``), 32 components per instrument learnt on the
  training stems (200 multiplicative updates; frames below 1e-6 of the track's peak energy dropped),
  activations from 200 updates on the test mixture, Wiener-style masks ``(W_k H_k)^2 / sum_j (W_j H_j)^2``;
  or the dictionaries of ``--nmf FILE`` (``projdiff fit-nmf``);
- ``projdiff from NMF``, with ``--warm-start SIGMA ...``: ProjDiff started from the NMF estimate
  (``separate(init=...)``) at noise level SIGMA (waveform units), 10 levels from SIGMA down to the
  prior's lowest; a diagnosis: if the prior improved on NMF's estimates, these rows would beat NMF;
- ``oracle IRM``: masks ``|S_k|^2 / sum_j |S_j|^2`` from the true stems (an upper bound for masks).
Scores: the MSDM protocol of ``projdiff.apps.audio.metrics`` (4 s windows, 2 s hop).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _chorales import add_chorale_arguments, first_seconds, length_note, prior_and_tracks  # noqa: E402
from _results import emit, table  # noqa: E402

from projdiff.apps.audio.chorales import STEMS  # noqa: E402
from projdiff.apps.audio.metrics import msdm_scores, si_sdr, summarize  # noqa: E402
from projdiff.apps.audio.nmf import NMFModel, masked, stft  # noqa: E402
from projdiff.apps.audio.separation import segment_starts, separate  # noqa: E402
from projdiff.apps.audio.stem_prior import AudioPrior  # noqa: E402
from projdiff.apps.audio.stems import load_tracks  # noqa: E402

def oracle_irm(mixture: torch.Tensor, stems: torch.Tensor) -> torch.Tensor:
    """Masks ``|S_k|^2 / sum_j |S_j|^2`` from the true stems (K, N) on the mixture (N,)."""
    return masked(mixture, torch.stack([stft(s).abs() ** 2 for s in stems]))


def seam_drop(estimates: torch.Tensor, references: torch.Tensor, segment: int, overlap: float, rate: int) -> float:
    """Mean SI-SDR (over stems and places) of 0.25 s windows centred on the middle of the segments'
    cross-fades, minus that of windows centred in the middle of the segments (dB; > 0 = worse at seams)."""
    lap = int(round(overlap * segment))
    starts = segment_starts(references.shape[-1], segment, segment - lap)
    half = rate // 8

    def score(centres):
        values = [si_sdr(estimates[:, c - half : c + half], references[:, c - half : c + half])
                  for c in centres if c - half >= 0 and c + half <= references.shape[-1]]
        return float(torch.stack(values).mean()) if values else float("nan")

    seams = [s + lap // 2 for s in starts[1:]]
    middles = [s + segment // 2 for s in starts]
    return score(middles) - score(seams)


def soundfont_label(root: Path) -> str:
    """How the test chorales under ``root`` sound: the training soundfont, or a timbre shift.

    Read from ``root/manifest.json``, so that ``--data`` may name the TimGM6mb rendering on its own
    (the two suites of ``--timbre-shift`` then run as two processes)."""
    manifest = root / "manifest.json"
    font = json.loads(manifest.read_text())["settings"]["soundfont"] if manifest.is_file() else "FluidR3_GM.sf2"
    name = Path(font).stem
    return f"{name} (as in training)" if name == "FluidR3_GM" else f"{name} (timbre shift)"


def refine(mixture: torch.Tensor, audio_prior: AudioPrior, start: float, first, steps: int = 10) -> torch.Tensor:
    """ProjDiff from the estimate ``first(mixture)`` (K, N) at noise level ``start`` (waveform units)."""
    return separate(mixture[None], audio_prior.card.sample_rate, audio_prior, steps=steps, seed=0,
                    init=first(mixture)[None], sigmas=audio_prior.warm_start_sigmas(start, steps))[0]


def evaluate(tracks, rate, methods) -> tuple[dict, dict]:
    """Scores and seconds per second of audio of each method, and each method's estimates."""
    results, estimates = {}, {}
    audio_seconds = sum(t.shape[1] for t in tracks) / rate
    for name, run in methods.items():
        started, scores, estimates[name] = time.time(), [], []
        for track in tracks:
            stems = torch.as_tensor(track)
            mixture = stems.sum(0)
            estimates[name].append(run(mixture))
            scores.append(msdm_scores(estimates[name][-1], stems, mixture, rate))
        results[name] = summarize(scores, STEMS)
        results[name]["seconds_per_second"] = round((time.time() - started) / audio_seconds, 3)
        print(name, results[name]["sisdri_avg"], results[name]["seconds_per_second"], flush=True)
    return results, estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_chorale_arguments(parser)
    parser.add_argument("--timbre-shift", default=None, help="folder of the test chorales rendered with TimGM6mb")
    parser.add_argument("--warm-start", nargs="*", type=float, default=[],
                        help="also run ProjDiff started from the NMF estimate at these noise levels")
    parser.add_argument("--tracks", type=int, help="only the first TRACKS test chorales (default: all)")
    parser.add_argument("--nmf", help="NMF dictionaries written by 'projdiff fit-nmf' (default: fit them here)")
    parser.add_argument("--no-projdiff", action="store_true", help="skip ProjDiff from scratch (warm starts only)")
    parser.add_argument("--section", default="separation", help="RESULTS.md section to write (default separation)")
    args = parser.parse_args()
    root = Path(args.data)
    audio_prior, test, rate = prior_and_tracks(parser, args.prior, root / "test")
    components, iterations = (8, 30) if args.quick else (32, 200)
    train = None if args.nmf else load_tracks(root / "train", STEMS)[0]
    if args.quick:
        test = [t[:, : 5 * rate] for t in test[:2]]
        train = train and [t[:, : 4 * rate] for t in train[:2]]
    if audio_prior.card.sample_rate != rate:
        raise SystemExit(f"prior rate {audio_prior.card.sample_rate} Hz differs from the data's {rate} Hz")
    steps = 5 if args.quick else args.steps
    test = first_seconds(test[: args.tracks], args.seconds, rate)
    sampler = audio_prior.describe_sampler(steps)
    started = time.time()
    if args.nmf:
        model = NMFModel.load(args.nmf)
        nmf_note = f"NMF dictionaries from `{args.nmf}` ({model.dictionaries[0].shape[1]} per stem)"
    else:
        model = NMFModel.fit(train, rate, STEMS, components=components, iterations=iterations)
        nmf_note = f"NMF dictionaries trained on {len(train)} chorales in {time.time() - started:.0f} s"
    nmf_name = f"NMF K={model.dictionaries[0].shape[1]}"

    rows, notes = [], []
    suites = [(soundfont_label(root), test)]
    if args.timbre_shift:
        shifted = load_tracks(Path(args.timbre_shift), STEMS)[0]
        suites.append((soundfont_label(Path(args.timbre_shift).parent),
                       first_seconds(shifted[: args.tracks], args.seconds, rate)))
    for label, tracks in suites:
        methods = {} if args.no_projdiff else {
            "projdiff": lambda mix: separate(mix[None], rate, audio_prior, steps=steps, seed=0)[0]}
        methods[nmf_name] = model.separate
        for level in args.warm_start:
            methods[f"projdiff from NMF, sigma {level:g}"] = partial(refine, audio_prior=audio_prior, start=level,
                                                                      first=model.separate)
        results, estimates = evaluate(tracks, rate, methods)
        if "projdiff" in estimates:
            seams = [seam_drop(e, torch.as_tensor(t), audio_prior.card.segment, 0.25, rate)
                     for e, t in zip(estimates["projdiff"], tracks)]
            notes.append(f"{label}: ProjDiff's SI-SDR drop at segment seams {sum(seams) / len(seams):.2f} dB. ")
        oracle_scores = [msdm_scores(oracle_irm(torch.as_tensor(t).sum(0), torch.as_tensor(t)), torch.as_tensor(t),
                                     torch.as_tensor(t).sum(0), rate) for t in tracks]
        results["oracle IRM"] = summarize(oracle_scores, STEMS)
        oracle = results["oracle IRM"]["sisdri_avg"]
        for name, r in results.items():
            rows.append([label, name] + [f"{r['stems'][s]['sisdri']:.2f}" for s in STEMS]
                        + [f"{r['sisdri_avg']:.2f}", f"{r['sisdri_avg'] - oracle:+.2f}", f"{r['sisdr_avg']:.2f}",
                           r.get("seconds_per_second", "-"), r["windows"]])
    body = (f"Test chorales of `{root}` ({len(test)} tracks, {length_note(args.seconds)}, {rate} Hz); "
            f"ProjDiff: {sampler}, prior `{args.prior}`; warm starts: 10 levels from SIGMA down; {nmf_note}. "
            "SI-SDRi in dB per stem "
            "(MSDM protocol), gap to the oracle mask, output SI-SDR, compute in seconds per second of audio.\n\n"
            + table(["test audio", "method"] + list(STEMS) + ["avg SI-SDRi", "gap to oracle", "avg SI-SDR",
                                                             "s / s audio", "windows"], rows)
            + "\n" + " ".join(notes) + "\n")
    title = "Source separation of Bach chorales (audio issue)"
    emit(args.write, args.section, title if args.section == "separation" else f"{title}: {args.section}", body)


if __name__ == "__main__":
    main()
