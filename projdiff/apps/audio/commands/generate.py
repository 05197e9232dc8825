"""``projdiff generate``: generate the missing stems that fit the given ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from projdiff.apps.arguments import add_solver_options
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--given", action="append", required=True, metavar="STEM=FILE", help="a given stem (repeatable)")
    p.add_argument("--out", default="generated", help="output folder (default generated)")
    p.add_argument("--restricted-encoding", action="store_true", help="reuse the initial noise (ProjDiff option)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_solver_options(p, default_prior="bundled:chorales", default_steps=None)


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.audio.audio_io import audio_subtype, read_audio, write_audio
    from projdiff.apps.audio.outputs import write_spectrograms
    from projdiff.apps.audio.separation import generate
    from projdiff.apps.audio.stem_prior import AudioPrior
    from projdiff.priors import load_prior
    from projdiff.utils.files import check_free

    audio_prior = AudioPrior.of(load_prior(args.prior))
    names = audio_prior.card.stems
    given, rates, files = {}, set(), []
    for item in args.given:
        name, sep, file = item.partition("=")
        if not sep or not file:
            raise ValueError(f"--given: expected STEM=FILE, got {item!r}")
        if name in given:
            raise ValueError(f"--given: stem {name!r} given twice")
        given[name], rate, _ = read_audio(file)
        rates.add(rate)
        files.append(file)
    if len(rates) != 1:
        raise ValueError(f"--given: files have different sample rates {sorted(rates)}")
    rate = rates.pop()
    out = Path(args.out)
    wavs = [out / f"{name}.wav" for name in names] + [out / "mix.wav"]
    check_free(wavs + [out / "spectrogram.png"], args.overwrite)
    stems = generate(given, rate, audio_prior, steps=args.steps, seed=args.seed, progress=not args.quiet,
                     restricted_encoding=args.restricted_encoding)
    subtype = audio_subtype(files[0])
    for k, path in enumerate(wavs[:-1]):
        write_audio(path, stems[:, k], rate, subtype)
    write_audio(wavs[-1], stems.sum(dim=1), rate, subtype)
    write_spectrograms(out / "spectrogram.png", [(n, stems[:, k]) for k, n in enumerate(names)], rate)
    if not args.quiet:
        print(f"wrote {len(wavs)} files to {out}")
    return 0


COMMAND = Command(
    "generate", "generate missing stems that fit the given ones", add_arguments, run,
    epilog="example:\n  projdiff generate --given soprano=melody.wav --prior bundled:chorales --out gen")
