"""Source separation of the test chorales: ProjDiff with the bundled prior against NMF and the oracle mask.

    python benchmarks/separation.py --write                 # full table into benchmarks/RESULTS.md
    python benchmarks/separation.py --quick --prior DIR     # smoke run on 2 short excerpts, prints only

Data: the dataset built by ``projdiff data chorales --out runs/data/chorales-8k`` (8 kHz; test split =
the ten chorales of shared/docs/separation-baselines.md); with ``--timbre-shift`` also the same test
chorales rendered with the TimGM6mb soundfont (a timbre neither method saw in training).

Methods (STFT: n_fft 512 = 64 ms, hop 128, periodic Hann, centred):
- ``projdiff``: `projdiff.apps.audio.separation.separate` with the prior (segments of the prior's length, 25% overlap);
- ``NMF``: supervised KL-NMF, 32 components per instrument learnt on the training stems (200
  multiplicative updates; frames below 1e-6 of the track's peak energy dropped), activations from
  200 updates on the test mixture, Wiener-style masks ``(W_k H_k)^2 / sum_j (W_j H_j)^2``;
- ``projdiff from NMF``, with ``--warm-start SIGMA ...``: ProjDiff started from the NMF estimate
  (``separate(init=...)``) at noise level SIGMA (waveform units), 10 levels from SIGMA down to the
  prior's lowest; a diagnosis: if the prior improved on NMF's estimates, these rows would beat NMF;
- ``oracle IRM``: masks ``|S_k|^2 / sum_j |S_j|^2`` from the true stems (an upper bound for masks).
Scores: the MSDM protocol of ``projdiff.apps.audio.metrics`` (4 s windows, 2 s hop).
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _chorales import add_chorale_arguments, first_seconds, length_note  # noqa: E402
from _results import emit, table  # noqa: E402

import projdiff  # noqa: E402
from projdiff.apps.audio.chorales import STEMS  # noqa: E402
from projdiff.apps.audio.metrics import msdm_scores, si_sdr, summarize  # noqa: E402
from projdiff.apps.audio.separation import segment_starts, separate  # noqa: E402
from projdiff.apps.audio.stem_prior import AudioPrior  # noqa: E402
from projdiff.apps.audio.stems import load_tracks  # noqa: E402
from projdiff.engine import karras_sigmas  # noqa: E402

N_FFT, HOP = 512, 128


def stft(x: torch.Tensor) -> torch.Tensor:
    return torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)


def istft(z: torch.Tensor, length: int) -> torch.Tensor:
    return torch.istft(z, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, length=length)


def kl_nmf(v: torch.Tensor, w: torch.Tensor | None, components: int, iterations: int, seed: int):
    """KL-divergence NMF ``V ~ W H`` by multiplicative updates (W fixed when given)."""
    g = torch.Generator().manual_seed(seed)
    eps = 1e-10
    learn_w = w is None
    if learn_w:
        w = torch.rand(v.shape[0], components, generator=g) + eps
    h = torch.rand(w.shape[1], v.shape[1], generator=g) + eps
    for _ in range(iterations):
        h *= (w.T @ (v / (w @ h + eps))) / (w.sum(0)[:, None] + eps)
        if learn_w:
            w *= ((v / (w @ h + eps)) @ h.T) / (h.sum(1)[None] + eps)
            w /= w.sum(0, keepdim=True) + eps
    return w, h


def nmf_dictionaries(tracks: list[torch.Tensor], components: int, iterations: int) -> list[torch.Tensor]:
    """One dictionary (F, components) per stem, from the magnitude spectra of the training stems."""
    out = []
    for k in range(len(STEMS)):
        frames = []
        for track in tracks:
            mag = stft(torch.as_tensor(track[k])).abs()
            energy = (mag**2).sum(0)
            frames.append(mag[:, energy > 1e-6 * energy.max()])
        out.append(kl_nmf(torch.cat(frames, 1), None, components, iterations, seed=k)[0])
    return out


def masked(mixture: torch.Tensor, power_estimates: torch.Tensor) -> torch.Tensor:
    """Apply masks ``P_k / sum_j P_j`` to the mixture STFT; returns (K, N) stems."""
    z = stft(mixture)
    masks = power_estimates / power_estimates.sum(0, keepdim=True).clamp_min(1e-12)
    return torch.stack([istft(m * z, mixture.shape[-1]) for m in masks])


def nmf_separate(mixture: torch.Tensor, dictionaries: list[torch.Tensor], iterations: int) -> torch.Tensor:
    w = torch.cat(dictionaries, 1)
    _, h = kl_nmf(stft(mixture).abs(), w, w.shape[1], iterations, seed=0)
    sizes = [d.shape[1] for d in dictionaries]
    parts = torch.split(torch.arange(w.shape[1]), sizes)
    return masked(mixture, torch.stack([(w[:, idx] @ h[idx]) ** 2 for idx in parts]))


def oracle_irm(mixture: torch.Tensor, stems: torch.Tensor) -> torch.Tensor:
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


def refine(mixture: torch.Tensor, audio_prior: AudioPrior, start: float, first, steps: int = 10) -> torch.Tensor:
    """ProjDiff from the estimate ``first(mixture)`` (K, N) at noise level ``start`` (waveform units)."""
    low = float(audio_prior.card.sampler.get("sigma_min", audio_prior.prior.sigma_min * audio_prior.card.waveform_scale))
    return separate(mixture[None], audio_prior.card.sample_rate, audio_prior, steps=steps, seed=0, init=first(mixture)[None],
                    sigmas=karras_sigmas(steps, low, start))[0]


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
    args = parser.parse_args()
    root = Path(args.data)
    train, rate = load_tracks(root / "train", STEMS)
    test, _ = load_tracks(root / "test", STEMS)
    components, iterations = (8, 30) if args.quick else (32, 200)
    if args.quick:
        train, test = [t[:, : 4 * rate] for t in train[:2]], [t[:, : 5 * rate] for t in test[:2]]
    audio_prior = AudioPrior.of(projdiff.load_prior(args.prior))
    if audio_prior.card.sample_rate != rate:
        raise SystemExit(f"prior rate {audio_prior.card.sample_rate} Hz differs from the data's {rate} Hz")
    steps = 5 if args.quick else args.steps
    test = first_seconds(test, args.seconds, rate)
    sampler = audio_prior.describe_sampler(steps)
    started = time.time()
    dictionaries = nmf_dictionaries(train, components, iterations)
    nmf_training = time.time() - started

    rows, notes = [], []
    suites = [("FluidR3_GM (as in training)", test)]
    if args.timbre_shift:
        shifted = load_tracks(Path(args.timbre_shift), STEMS)[0]
        suites.append(("TimGM6mb (timbre shift)", first_seconds(shifted, args.seconds, rate)))
    for label, tracks in suites:
        nmf = partial(nmf_separate, dictionaries=dictionaries, iterations=iterations)
        methods = {
            "projdiff": lambda mix: separate(mix[None], rate, audio_prior, steps=steps, seed=0)[0],
            f"NMF K={components}": nmf,
        }
        for level in args.warm_start:
            methods[f"projdiff from NMF, sigma {level:g}"] = partial(refine, audio_prior=audio_prior, start=level,
                                                                      first=nmf)
        results, estimates = evaluate(tracks, rate, methods)
        seams = [seam_drop(e, torch.as_tensor(t), audio_prior.card.segment, 0.25, rate)
                 for e, t in zip(estimates["projdiff"], tracks)]
        seam_note = f"{label}: ProjDiff's SI-SDR drop at segment seams {sum(seams) / len(seams):.2f} dB. "
        oracle_scores = [msdm_scores(oracle_irm(torch.as_tensor(t).sum(0), torch.as_tensor(t)), torch.as_tensor(t),
                                     torch.as_tensor(t).sum(0), rate) for t in tracks]
        results["oracle IRM"] = summarize(oracle_scores, STEMS)
        oracle = results["oracle IRM"]["sisdri_avg"]
        notes.append(seam_note)
        for name, r in results.items():
            rows.append([label, name] + [f"{r['stems'][s]['sisdri']:.2f}" for s in STEMS]
                        + [f"{r['sisdri_avg']:.2f}", f"{r['sisdri_avg'] - oracle:+.2f}", f"{r['sisdr_avg']:.2f}",
                           r.get("seconds_per_second", "-"), r["windows"]])
    body = (f"Test chorales of `{root}` ({len(test)} tracks, {length_note(args.seconds)}, {rate} Hz); "
            f"ProjDiff: {sampler}, prior "
            f"`{args.prior}`; NMF dictionaries trained in {nmf_training:.0f} s. SI-SDRi in dB per stem "
            "(MSDM protocol), gap to the oracle mask, output SI-SDR, compute in seconds per second of audio.\n\n"
            + table(["test audio", "method"] + list(STEMS) + ["avg SI-SDRi", "gap to oracle", "avg SI-SDR",
                                                             "s / s audio", "windows"], rows)
            + "\n" + " ".join(notes) + "\n")
    emit(args.write, "separation", "Source separation of Bach chorales (audio issue)", body)


if __name__ == "__main__":
    main()
