"""``projdiff separate``: separate a music mixture into the prior's stems."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from projdiff.apps.arguments import add_solver_options, finite, positive
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("mixture", metavar="MIX.wav")
    p.add_argument("--out", default="stems", help="output folder (default stems)")
    p.add_argument("--sigma-y", type=finite, default=0.0, help="noise level of the mixture (waveform units)")
    p.add_argument("--references", help="folder with the true <stem>.wav files, for SI-SDR metrics")
    p.add_argument("--init", choices=("none", "nmf"), default="none",
                   help="nmf: start ProjDiff from a supervised NMF estimate (--nmf) at --init-sigma")
    p.add_argument("--nmf", metavar="FILE", help="NMF dictionaries of the prior's stems ('projdiff fit-nmf'; "
                                                 "default with --init nmf: the prior folder's nmf.safetensors)")
    p.add_argument("--init-sigma", type=positive(float), default=0.01,
                   help="noise level of the warm start, waveform units (default 0.01); --steps levels down "
                        "from it (default 10)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_solver_options(p, default_prior="bundled:chorales", default_steps=None)


def run(args: argparse.Namespace) -> int:
    import torch

    from projdiff.apps.arguments import device_of, dtype_of
    from projdiff.apps.audio.audio_io import audio_subtype, read_audio, write_audio
    from projdiff.apps.audio.metrics import msdm_scores, summarize
    from projdiff.apps.audio.nmf import NMFModel, shipped_dictionaries
    from projdiff.apps.audio.outputs import write_spectrograms
    from projdiff.apps.audio.separation import check_rate, is_silent, separate
    from projdiff.apps.audio.stem_prior import AudioPrior
    from projdiff.priors import load_prior
    from projdiff.utils.files import check_free, write_json

    nmf_file = args.nmf or (shipped_dictionaries(args.prior) if args.init == "nmf" else None)
    if (args.init == "nmf") != bool(nmf_file):
        raise ValueError("--init nmf and --nmf FILE go together (write FILE once with 'projdiff fit-nmf')")
    mixture, rate, warnings = read_audio(args.mixture)
    if is_silent(mixture):
        raise ValueError(f"{args.mixture}: all samples are silent; there is nothing to separate")
    device, dtype = device_of(args.device), dtype_of(args.dtype)
    audio_prior = AudioPrior.of(load_prior(args.prior))
    check_rate(rate, audio_prior.card.sample_rate, args.mixture)
    names = audio_prior.card.stems
    nmf = None if nmf_file is None else NMFModel.load(nmf_file)
    out, stem = Path(args.out), Path(args.mixture).stem
    wavs = [out / f"{stem}_{name}.wav" for name in names]
    extra = [out / f"{stem}_spectrogram.png"] + ([out / f"{stem}_metrics.json"] if args.references else [])
    check_free(wavs + extra, args.overwrite)
    references = None
    if args.references:
        loaded = [read_audio(Path(args.references) / f"{name}.wav") for name in names]
        for (ref, ref_rate, _), name in zip(loaded, names):
            if ref_rate != rate or ref.shape != mixture.shape:
                raise ValueError(f"{Path(args.references) / (name + '.wav')}: expected {mixture.shape[0]} channel(s), "
                                 f"{mixture.shape[1]} samples at {rate} Hz like the mixture, got {ref.shape[0]}, "
                                 f"{ref.shape[1]} at {ref_rate} Hz")
        references = torch.stack([r for r, _, _ in loaded], dim=1)  # (C, K, N)
    if not args.quiet:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    steps, warm = args.steps, {}
    if nmf is not None:
        steps = args.steps or 10
        warm = {"init": nmf.estimate(mixture, rate, names),
                "sigmas": audio_prior.warm_start_sigmas(args.init_sigma, steps)}
    stems = separate(mixture, rate, audio_prior, sigma_y=args.sigma_y, steps=steps, seed=args.seed,
                     progress=not args.quiet, device=device, dtype=dtype, **warm)       # (C, K, N)
    subtype = audio_subtype(args.mixture)
    for k, path in enumerate(wavs):
        write_audio(path, stems[:, k], rate, subtype)
    write_spectrograms(extra[0], [("mixture", mixture)] + [(n, stems[:, k]) for k, n in enumerate(names)], rate)
    if references is not None:
        scores = [msdm_scores(stems[c], references[c], mixture[c], rate) for c in range(mixture.shape[0])]
        write_json(extra[1], summarize(scores, names))
    if not args.quiet:
        print(f"wrote {len(wavs)} stems to {out}")
    return 0


COMMAND = Command(
    "separate", "separate a music mixture into the prior's stems", add_arguments, run,
    epilog="example:\n  projdiff separate mix.wav --prior bundled:chorales --out stems\n"
           "  projdiff separate mix.wav --references truth/ --out stems   (adds SI-SDR metrics)\n"
           "  projdiff separate mix.wav --init nmf --nmf nmf.safetensors   (refine an NMF estimate; see fit-nmf)\n"
           "  projdiff separate mix.wav --prior bundled:chorales-isdm --init nmf   (the NMF dictionaries it ships)\n"
           "outputs: MIX_<stem>.wav per stem (the mixture's sample format; they sum to the mixture, the band above\n"
           "  the prior's Nyquist frequency shared among the stems), MIX_spectrogram.png, MIX_metrics.json")
