"""Partial generation: given the soprano (flute) of a test chorale, generate alto, tenor and bass.

    python benchmarks/generation.py --write
    python benchmarks/generation.py --quick --prior DIR
    python benchmarks/generation.py --prior runs/audio-design/waveform --section generation-waveform --write

Two figures per generated stem, averaged over the test chorales (8 kHz; STFT n_fft 1024, hop 256):

- **timbre**: distance in dB between the long-term average log spectra (mean power per frequency bin
  over the whole track, 80 Hz .. 3.5 kHz) of the generated stem and of the true stem (lower is better);
- **pitch and timing fit**: the mean over frames of the cosine similarity between the 12-bin chroma
  vectors (pitch classes from the STFT bins) of the generated stem and of the true stem of the same
  chorale (higher is better; 1 = same pitch classes at the same times).

Reference rows put the figures in context: the true stem of *another* test chorale (right
instrument, wrong music), and ProjDiff given another chorale's soprano (right model, wrong
conditioning; the soprano of the next test chorale, cut or zero-padded to length): the generated
stems should fit their own chorale better than both.

The second table is the partial-generation figure: the chroma fit given the chorale's own soprano
minus the fit given another chorale's soprano, per chorale (paired), its mean over the test
chorales with a 95% bootstrap interval over them. An interval above 0 means the generated stems
follow the given melody, not only the key and style shared by all chorales.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _chorales import add_chorale_arguments, first_seconds, length_note, mean_interval, prior_and_tracks  # noqa: E402
from _results import emit, table  # noqa: E402

from projdiff.apps.audio.chorales import STEMS  # noqa: E402
from projdiff.apps.audio.separation import generate  # noqa: E402

N_FFT, HOP = 1024, 256


def power(x: torch.Tensor) -> torch.Tensor:
    z = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    return z.abs() ** 2                                                  # (F, T)


def ltas_distance(a: torch.Tensor, b: torch.Tensor, rate: int) -> float:
    """RMS difference in dB of the long-term average spectra, 80 Hz .. 3.5 kHz."""
    freqs = torch.fft.rfftfreq(N_FFT, 1 / rate)
    band = (freqs >= 80) & (freqs <= 3500)
    la = 10 * torch.log10(power(a).mean(1)[band] + 1e-12)
    lb = 10 * torch.log10(power(b).mean(1)[band] + 1e-12)
    return float(((la - la.mean()) - (lb - lb.mean())).pow(2).mean().sqrt())


def chroma(x: torch.Tensor, rate: int) -> torch.Tensor:
    """(12, T) pitch-class energy from STFT bins above 50 Hz."""
    p = power(x)
    freqs = torch.fft.rfftfreq(N_FFT, 1 / rate)
    keep = freqs > 50
    classes = (torch.round(12 * torch.log2(freqs[keep] / 440.0)) % 12).long()
    out = torch.zeros(12, p.shape[1])
    out.index_add_(0, classes, p[keep])
    return out


def chroma_fit(a: torch.Tensor, b: torch.Tensor, rate: int) -> float:
    """Mean frame-wise cosine similarity of the chroma of ``a`` and ``b`` (frames where both sound)."""
    ca, cb = chroma(a, rate), chroma(b, rate)
    loud = (ca.sum(0) > 1e-6 * ca.sum(0).max()) & (cb.sum(0) > 1e-6 * cb.sum(0).max())
    cos = torch.nn.functional.cosine_similarity(ca[:, loud], cb[:, loud], dim=0)
    return float(cos.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_chorale_arguments(parser)
    parser.add_argument("--section", default="generation",
                        help="section of benchmarks/RESULTS.md to write (generation; another for another prior)")
    args = parser.parse_args()
    audio_prior, tracks, rate = prior_and_tracks(parser, args.prior, Path(args.data) / "test")
    if args.quick:
        tracks = [t[:, : 3 * rate] for t in tracks[:2]]
    tracks = first_seconds(tracks, args.seconds, rate)
    steps = 3 if args.quick else args.steps
    sampler = audio_prior.describe_sampler(steps)
    rows = {name: {stem: [] for stem in STEMS[1:]} for name in
            ("projdiff (given: its soprano)", "projdiff (given: another chorale's soprano)",
             "true stem of another chorale")}
    for i, track in enumerate(tracks):
        other = tracks[(i + 1) % len(tracks)]
        stems = torch.as_tensor(track)
        n = stems.shape[1]
        wrong_soprano = torch.as_tensor(other[0])
        wrong_soprano = torch.nn.functional.pad(wrong_soprano, (0, max(0, n - wrong_soprano.shape[0])))[:n]
        own = generate({"soprano": stems[:1]}, rate, audio_prior, steps=steps, seed=i)[0]
        crossed = generate({"soprano": wrong_soprano[None]}, rate, audio_prior, steps=steps, seed=i)[0]
        for k, stem in enumerate(STEMS[1:], start=1):
            other_stem = torch.as_tensor(other[k])
            for name, estimate in (("projdiff (given: its soprano)", own[k]),
                                   ("projdiff (given: another chorale's soprano)", crossed[k]),
                                   ("true stem of another chorale", other_stem)):
                m = min(estimate.shape[0], n)
                rows[name][stem].append((ltas_distance(estimate[:m], stems[k, :m], rate),
                                         chroma_fit(estimate[:m], stems[k, :m], rate)))
    out = []
    for name, per_stem in rows.items():
        cells = []
        for stem in STEMS[1:]:
            values = torch.tensor(per_stem[stem])
            mean, low, high = mean_interval(values[:, 1].tolist())
            cells += [f"{float(values[:, 0].mean()):.2f}", f"{mean:.3f} [{low:.3f}, {high:.3f}]"]
        out.append([name] + cells)
        print(out[-1], flush=True)
    own, crossed = rows["projdiff (given: its soprano)"], rows["projdiff (given: another chorale's soprano)"]
    differences = {stem: [a[1] - b[1] for a, b in zip(own[stem], crossed[stem])] for stem in STEMS[1:]}
    differences["average of the three"] = [sum(d) / 3 for d in zip(*differences.values())]
    paired = [[stem] + ["{:+.3f} [{:+.3f}, {:+.3f}]".format(*mean_interval(d))] + [sum(v > 0 for v in d)]
              for stem, d in differences.items()]
    headers = ["method"] + [f"{s} {fig}" for s in STEMS[1:] for fig in ("timbre dB", "chroma fit [95% interval]")]
    body = (f"{len(tracks)} test chorales of `{args.data}` ({length_note(args.seconds)}), soprano given, "
            f"{sampler}, prior `{args.prior}`. "
            "Timbre: long-term spectrum distance to the true stem in dB (lower is better); chroma fit: mean "
            "frame-wise chroma cosine similarity with the true stem (higher is better), mean over the chorales "
            "with a 95% bootstrap interval over them.\n\n" + table(headers, out)
            + "\nPartial-generation figure: chroma fit given the chorale's own soprano minus given another "
            "chorale's soprano (paired per chorale; mean and 95% bootstrap interval over the chorales; chorales "
            "where the own soprano fits better).\n\n"
            + table(["generated stem", "own - other soprano, chroma fit", f"chorales > 0 (of {len(tracks)})"],
                    paired))
    title = "Partial generation of chorale stems (audio issue)"
    emit(args.write, args.section, title + ("" if args.section == "generation" else f" ({args.section})"), body)


if __name__ == "__main__":
    main()
