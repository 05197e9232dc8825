"""Prior design study for chorale separation (audio issue, item 1): designs trained for equal wall-clock budgets.

    python benchmarks/audio_design.py --budget-minutes 90 --write        # the study (hours on 2 cores)
    python benchmarks/audio_design.py --budget-minutes 180 --write       # resumes every design to 3 h
    python benchmarks/audio_design.py --quick --data DIR --out DIR       # smoke run (the test suite)
    python benchmarks/audio_design.py --budget-minutes 360 --designs isdm --bundle projdiff/bundled/chorales-isdm
                                       # copies the trained ISDM design into a prior folder with model cards

Designs (``DESIGNS``; all joint over the 4 stems, DDPM with epsilon prediction, the project's trainer):

- ``waveform``: the bundled prior's design, ``audio-small`` UNet1D on 8192-sample waveform segments;
- ``waveform-16k``: the same network on 16384-sample segments (segment length);
- ``waveform-wide``: a UNet1D twice as wide (model size);
- ``waveform-range``: the bundled design trained only at the noise levels its sampler uses, ``log sigma``
  uniform over the sampler's range (0.0025..0.25 in waveform units, 0.01..1.0 in the model's), where the
  other designs draw DDPM time steps uniformly and so spend about 74 % of their batches above that range
  and under 1 % at the warm start's sigma 0.01 (noise levels in training);
- ``stft``: a 2-D UNet (``small``) over the complex STFT of the stems (n_fft 512, hop 128, periodic
  Hann, centred; 8 channels = 4 stems x (re, im); Nyquist bin dropped, 65 frames padded to 68), each
  frequency scaled by a fixed weight ``1 / (RMS of |STFT| at that frequency over training segments +
  1% of the largest)``. The STFT and the weighting are linear, so the mixture's weighted STFT is the
  sum of the stems' and ``SumOfSources`` applies in that space; stems come back by inverse STFT;
- ``stft-light``: the same over a lighter 2-D UNet (16, 32, 64 channels, one layer a level, no attention;
  0.64 M parameters), about 4x faster a step than ``stft`` on a CPU, where ``stft`` manages only about
  3 steps a minute (model size);
- ``isdm``: independent priors, one ``audio-small`` UNet1D per stem (a quarter of the budget each),
  combined into a joint prior ``D(x)_k = D_k(x_k)`` (ISDM of the MSDM paper; ``projdiff.priors.IndependentPriors``:
  ``OUT/isdm`` is then a prior that ``load_prior`` and ``projdiff separate --prior`` take).

Budget: training wall-clock seconds as the trainer counts them (its legs; data loading excluded). A
design whose folder holds checkpoints resumes where it stopped (``OUT/<design>/``), so a larger
``--budget-minutes`` continues every design; evaluations accumulate in ``OUT/<design>/study.json``
(one row per step count), which is what the table shows: SI-SDRi against training hours. Designs
may run in parallel processes (``--designs waveform`` in one, ``--designs stft`` in another); the
last one to finish writes the table of all. So may ISDM's one-stem priors (``--designs isdm --stems
soprano,alto`` in one, ``--stems tenor,bass`` in another): whichever finds all four at the budget evaluates.

Evaluation: the first ``--seconds`` of ``--tracks`` validation chorales (never the test chorales),
MSDM protocol (``projdiff.apps.audio.metrics``); ProjDiff 30 levels, 8 inner steps, step size 0.2,
momentum 0.5 (the bundled prior's sampler) from sigma 0.25 to 0.0025 in waveform units, for the
STFT design from 2.0 to 0.01 in its weighted units (not tuned per design). The warm-start column:
ProjDiff from the supervised NMF estimate, 10 levels from 4x the sampler's lowest noise level down to
it (sigma 0.01 -> 0.0025 in waveform units; 0.04 -> 0.01 in the STFT designs' weighted units), minus
NMF's own SI-SDRi: above 0 means the prior improves a good estimate (the issue's first bar).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from diffusers import DDPMScheduler
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402

import projdiff  # noqa: E402
from projdiff.apps.audio.chorales import STEMS  # noqa: E402
from projdiff.apps.audio.metrics import msdm_scores, summarize  # noqa: E402
from projdiff.apps.audio.nmf import SHIPPED, NMFModel  # noqa: E402
from projdiff.apps.audio.recipes import (AUDIO_SMALL, AUDIO_TINY, CHORALES_SAMPLER, WAVEFORM_SCALE,  # noqa: E402
                                         ChoraleStems)
from projdiff.apps.audio.separation import crossfade, segment_starts, separate  # noqa: E402
from projdiff.apps.audio.stem_prior import AudioPrior, StemPriorCard  # noqa: E402
from projdiff.engine import karras_sigmas, solve  # noqa: E402
from projdiff.operators import SumOfSources  # noqa: E402
from projdiff.priors import DiffusersPrior, Prior, load_prior  # noqa: E402
from projdiff.priors.independent import write_parts_config  # noqa: E402
from projdiff.training import Architecture, Recipe, TrainConfig, train  # noqa: E402
from projdiff.training.architectures import SMALL, TINY  # noqa: E402
from projdiff.training.recipes import DDPM_LINEAR, model_card  # noqa: E402

N_FFT, HOP, FRAMES = 512, 128, 68          # STFT design: 8192-sample segments give 65 frames, padded to 68
WIDE = Architecture("audio-wide", {**AUDIO_SMALL.config, "block_out_channels": [32, 32, 64, 64, 64, 96, 96, 96]},
                    unet_class="UNet1DModel")
STFT_LIGHT = Architecture("stft-light", {"layers_per_block": 1, "block_out_channels": [16, 32, 64], "norm_num_groups": 8,
                                         "down_block_types": ["DownBlock2D"] * 3, "up_block_types": ["UpBlock2D"] * 3})


@dataclass(frozen=True)
class Design:
    name: str
    architecture: Architecture
    segment: int = 8192
    kind: str = "waveform"                 # waveform | stft | isdm
    batch_size: int = 16
    sigma_range: tuple[float, float] | None = None     # model units; None: uniform DDPM time steps
    notes: str = field(default="", compare=False)


DESIGNS = (Design("waveform", AUDIO_SMALL, notes="bundled design"),
           Design("waveform-16k", AUDIO_SMALL, segment=16384, batch_size=8, notes="segment x2"),
           Design("waveform-wide", WIDE, notes="width x2"),
           Design("waveform-range", AUDIO_SMALL, notes="bundled design, sampler's noise levels only",
                  sigma_range=(CHORALES_SAMPLER["sigma_min"] / WAVEFORM_SCALE,
                               CHORALES_SAMPLER["sigma_max"] / WAVEFORM_SCALE)),
           Design("stft", SMALL, kind="stft", notes="2-D UNet over weighted STFT"),
           Design("stft-light", STFT_LIGHT, kind="stft", notes="2-D UNet, 1 layer a level, no attention"),
           Design("isdm", AUDIO_SMALL, kind="isdm", notes="4 independent 1-stem priors"))
QUICK = (Design("waveform", AUDIO_TINY, segment=256, batch_size=4), Design("stft", TINY, kind="stft", batch_size=2),
         Design("isdm", AUDIO_TINY, segment=256, kind="isdm", batch_size=4),
         Design("waveform-range", AUDIO_TINY, segment=256, batch_size=4, sigma_range=(0.01, 1.0)))


# --- STFT design --------------------------------------------------------------------------------------------

def stft(x: torch.Tensor) -> torch.Tensor:
    """(..., L) -> real (..., 2, 257, L / HOP + 1): real and imaginary parts."""
    z = torch.stft(x.reshape(-1, x.shape[-1]), N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                   return_complex=True)
    return torch.view_as_real(z).permute(0, 3, 1, 2).reshape(*x.shape[:-1], 2, *z.shape[-2:])


def istft(c: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of ``stft``: (..., 2, 257, T) -> (..., length)."""
    z = torch.view_as_complex(c.reshape(-1, *c.shape[-3:]).permute(0, 2, 3, 1).contiguous())
    out = torch.istft(z, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, length=length)
    return out.reshape(*c.shape[:-3], length)


class MappedItems(Dataset):
    """The items of a dataset passed through ``fn`` (e.g. to STFT coefficients, or to one stem)."""

    def __init__(self, base: Dataset, fn: Callable[[torch.Tensor], torch.Tensor]):
        self.base, self.fn = base, fn

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.fn(self.base[index])


def model_items(item: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A (K, L) item in model units -> weighted STFT coefficients for the 2-D UNet (2K, 256, FRAMES)."""
    return to_model(stft(item * WAVEFORM_SCALE) * weights[:, None])


def to_model(c: torch.Tensor) -> torch.Tensor:
    """(..., K, 2, 257, T) -> (..., 2K, 256, FRAMES): Nyquist bin dropped, frames zero-padded."""
    c = c[..., :256, :]
    c = torch.nn.functional.pad(c, (0, FRAMES - c.shape[-1]))
    return c.reshape(*c.shape[:-4], -1, *c.shape[-2:])


class CoefficientPrior(Prior):
    """The 2-D UNet prior seen on (K, 2, 257, T) weighted coefficients (Nyquist bin denoised to 0)."""

    def __init__(self, base: DiffusersPrior, stems: int, frames: int):
        super().__init__()
        self.base, self.frames = base, frames
        self.shape = (stems, 2, 257, frames)
        self.sigma_min, self.sigma_max, self.sigmas = base.sigma_min, base.sigma_max, base.sigmas

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        out = self.base.denoise(to_model(x), sigma)[..., : self.frames]
        out = out.reshape(x.shape[0], x.shape[1], 2, 256, self.frames)
        return torch.nn.functional.pad(out, (0, 0, 0, 1))


def stft_weights(dataset: Dataset, items: int = 64) -> torch.Tensor:
    """Per-frequency weights (257,): 1 / (RMS of |STFT| over ``items`` training items + 1% of the largest)."""
    mags = torch.stack([stft(dataset[i] * WAVEFORM_SCALE) for i in range(items)])  # (n, K, 2, F, T)
    rms = mags.pow(2).sum(2).mean(dim=(0, 1, 3)).sqrt()
    return 1 / (rms + 0.01 * rms.max())


def separate_stft(mixture: torch.Tensor, prior: CoefficientPrior, weights: torch.Tensor, segment: int, steps: int,
                  sigmas: torch.Tensor, options: dict, init: torch.Tensor | None = None) -> torch.Tensor:
    """Stems (K, N) of a mixture (N,): segments with 25% cross-faded overlap, solved in coefficient space;
    ``init`` (K, N): a first estimate of the stems to start from at ``sigmas[0]`` (a warm start)."""
    n, lap = mixture.shape[-1], segment // 4
    starts = segment_starts(max(n, segment), segment, segment - lap)

    def coefficients(x: torch.Tensor) -> torch.Tensor:                # (..., N) -> (S, ..., 2, 257, T), weighted
        x = torch.nn.functional.pad(x, (0, max(0, segment - n)))
        return stft(torch.stack([x[..., s : s + segment] for s in starts])) * weights[:, None]

    y, k = coefficients(mixture), prior.shape[0]                                               # (S, 2, 257, T)
    if init is not None:
        options = {**options, "init": coefficients(init)}                                    # (S, K, 2, 257, T)
    result = solve(SumOfSources((k, *y.shape[1:])), prior, y, steps=steps, sigmas=sigmas, seed=0, **options)
    pieces = istft(result.x / weights[:, None], segment)                                      # (S, K, L)
    out = torch.zeros(k, max(n, segment), dtype=torch.float64)
    norm = torch.zeros(max(n, segment), dtype=torch.float64)
    w = crossfade(segment, lap)
    for piece, s in zip(pieces, starts):
        out[:, s : s + segment] += w * piece.double()
        norm[s : s + segment] += w
    return (out / norm)[:, :n].float()


# --- training for a budget ----------------------------------------------------------------------------------

def train_for(architecture: Architecture, shape: tuple, dataset, validation, out: Path, budget: float,
              batch_size: int, chunk: int, sigma_range: tuple[float, float] | None = None, metadata: dict | None = None,
              seed: int = 0) -> dict:
    """Train (resuming from ``out``) until the trainer's accumulated wall time reaches ``budget`` seconds, then
    write the EMA weights (with ``metadata`` in ``projdiff.json``: a waveform design's folder is then a prior
    that ``projdiff separate --prior`` takes); returns the trainer's summary (at once when a finished run already
    reached it)."""
    done = out / "training_summary.json"
    if done.is_file() and json.loads(done.read_text())["wall_seconds"] >= budget:
        return json.loads(done.read_text())
    while True:
        unet = architecture.build(shape[0], 0, shape[-1], seed)
        scheduler = DDPMScheduler(**DDPM_LINEAR)
        config = TrainConfig(steps=10**9, batch_size=batch_size, checkpoint_every=chunk, validate_every=10**9,
                             seed=seed, sigma_range=sigma_range)
        summary = train(unet, scheduler, dataset, out, config, progress=False, stop_after=chunk)
        if summary["wall_seconds"] >= budget:
            break
    final = TrainConfig(steps=summary["step"], batch_size=batch_size, validate_every=10**9, seed=seed,
                        sigma_range=sigma_range)
    unet = architecture.build(shape[0], 0, shape[-1], seed)
    return train(unet, DDPMScheduler(**DDPM_LINEAR), dataset, out, final, validation=validation, progress=False,
                 metadata=metadata)


def trained(design: Design, data: ChoraleStems, out: Path, budget: float, chunk: int,
            stems: tuple[str, ...] = STEMS) -> tuple[object, dict] | None:
    """The design's separation function ``mixture (N,) -> stems (K, N)`` after training, and its summary;
    ``stems``: the one-stem priors an ISDM process trains (``None`` when the others have not reached the budget)."""
    folder = out / design.name
    if design.kind == "stft":
        recipe = Recipe(AUDIO_TINY, data, (4, design.segment))  # a 1-D recipe: the source reads its shape only
        td = data.load(recipe, seed=0)
        weights_file = folder / "stft_weights.json"
        if weights_file.is_file():
            weights = torch.tensor(json.loads(weights_file.read_text()))
        else:
            weights = stft_weights(td.train)
            folder.mkdir(parents=True, exist_ok=True)
            weights_file.write_text(json.dumps(weights.tolist()))
        items = MappedItems(td.train, partial(model_items, weights=weights))
        validation = torch.stack([model_items(v, weights) for v in td.validation[:32]])
        summary = train_for(design.architecture, (8, 256, FRAMES), items, validation, folder, budget,
                            design.batch_size, chunk)
        prior = CoefficientPrior(DiffusersPrior.from_pretrained(folder), len(STEMS), design.segment // HOP + 1)
        options = {k: v for k, v in CHORALES_SAMPLER.items() if k not in ("steps", "sigma_min", "sigma_max")}

        def run(mixture: torch.Tensor, steps: int, init: torch.Tensor | None = None,
                sigmas: torch.Tensor | None = None) -> torch.Tensor:
            sigmas = karras_sigmas(steps, 0.01, 2.0) if sigmas is None else sigmas
            return separate_stft(mixture, prior, weights, design.segment, steps, sigmas, options, init)

        run.warm_sigmas = karras_sigmas(10, 0.01, 0.04)
        return run, summary
    recipe = Recipe(design.architecture, data, (4, design.segment))
    td = data.load(recipe, seed=0)
    meta = td.metadata
    card = StemPriorCard(meta["sample_rate"], tuple(meta["stems"]), design.segment, meta["waveform_scale"],
                         meta["sampler"])
    if design.kind == "isdm":
        summaries = []
        for k, stem in enumerate(STEMS):
            if stem in stems:
                one_stem = MappedItems(td.train, lambda item, k=k: item[k : k + 1])
                train_for(design.architecture, (1, design.segment), one_stem, td.validation[:, k : k + 1],
                          folder / stem, budget / len(STEMS), design.batch_size, chunk)
        for stem in STEMS:
            done = folder / stem / "training_summary.json"
            if not done.is_file() or json.loads(done.read_text())["wall_seconds"] < budget / len(STEMS):
                return None                                  # another process is still training this stem
            summaries.append(json.loads(done.read_text()))
        summary = {"step": sum(s["step"] for s in summaries), "wall_seconds": sum(s["wall_seconds"] for s in summaries),
                   "heldout_loss": sum(s["heldout_loss"] for s in summaries) / len(summaries)}
        write_parts_config(folder, STEMS, meta)                     # the folder is then a prior 'load_prior' reads
        audio_prior = AudioPrior.of(load_prior(folder))
    else:
        summary = train_for(design.architecture, recipe.shape, td.train, td.validation, folder, budget,
                            design.batch_size, chunk, design.sigma_range, meta)
        audio_prior = AudioPrior(DiffusersPrior.from_pretrained(folder), card)

    def run(mixture: torch.Tensor, steps: int, init: torch.Tensor | None = None, **options) -> torch.Tensor:
        init = None if init is None else init[None]
        return separate(mixture[None], card.sample_rate, audio_prior, steps=steps, seed=0, init=init, **options)[0]

    run.warm_sigmas = audio_prior.warm_start_sigmas(0.01, 10)
    return run, summary


def evaluate(run, tracks: list[torch.Tensor], rate: int, steps: int, nmf: NMFModel | None) -> dict:
    """SI-SDRi (MSDM protocol) from scratch and, given ``nmf``, warm-started from the NMF estimate."""
    scratch, warm, nmf_scores = [], [], []
    for stems in tracks:
        mixture = stems.sum(0)
        scratch.append(msdm_scores(run(mixture, steps), stems, mixture, rate))
        if nmf is not None:
            first = nmf.separate(mixture)
            warm.append(msdm_scores(run(mixture, 10, init=first, sigmas=run.warm_sigmas), stems, mixture, rate))
            nmf_scores.append(msdm_scores(first, stems, mixture, rate))
    out = {"scratch": summarize(scratch, STEMS)}
    if warm:
        out["warm"], out["nmf"] = summarize(warm, STEMS), summarize(nmf_scores, STEMS)
    return out


PART_FILES = ("unet", "scheduler", "model_index.json", "projdiff.json", "training_summary.json", "train_log.jsonl")


def bundle(design: Design, data: ChoraleStems, folder: Path, target: Path, entry: dict, command: str,
           nmf_file: Path) -> None:
    """Copy the trained ISDM design in ``folder`` (one sub-folder per stem) into ``target``, a prior folder
    that ``load_prior`` reads: each part's weights, scheduler, training summary and log (not its checkpoints)
    with a model card per part, the NMF dictionaries of the warm start (``nmf.safetensors``, which
    ``projdiff separate --init nmf`` then uses), and a card for the joint prior with the study's evaluation
    ``entry``. Written into a temporary sibling folder first, so a failure leaves no half-written ``target``."""
    description = data.load(Recipe(design.architecture, data, (4, design.segment)), seed=0).description
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _write_bundle(design, data, folder, staging, target.name, description, entry, command, nmf_file)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_bundle(design: Design, data: ChoraleStems, folder: Path, target: Path, name: str, description: str,
                  entry: dict, command: str, nmf_file: Path) -> None:
    """``bundle``'s files, written into ``target`` for the prior called ``name``."""
    parts, seconds = [], 0.0
    for k, stem in enumerate(STEMS):
        for file in PART_FILES:
            copy = shutil.copytree if (folder / stem / file).is_dir() else shutil.copy2
            copy(folder / stem / file, target / stem / file)
        summary = json.loads((folder / stem / "training_summary.json").read_text())
        n_params = sum(p.numel() for p in DiffusersPrior.from_pretrained(target / stem).unet.parameters())
        text = (f"{description}\n\nThis part models the {stem} stem alone (channel {k} of those items); "
                "`../README.md` describes the joint prior it belongs to.")
        card = model_card(f"{name}/{stem}", Recipe(design.architecture, data, (1, design.segment)), text,
                          command, n_params)
        (target / stem / "README.md").write_text(card(summary))
        parts.append((stem, summary, n_params))
        seconds += summary["wall_seconds"]
    shutil.copy2(folder / "projdiff.json", target / "projdiff.json")
    shutil.copy2(nmf_file, target / SHIPPED)
    nmf_model = NMFModel.load(nmf_file)
    scratch, warm, nmf = (entry[k] for k in ("scratch", "warm", "nmf"))

    def row(label: str, scores: dict, bold: bool = False) -> str:
        per_stem = " / ".join(f"{scores['stems'][s]['sisdri']:.2f}" for s in STEMS)
        mark = "**" if bold else ""
        return f"| {mark}{label}{mark} | {per_stem} | {mark}{scores['sisdri_avg']:.2f}{mark} |\n"

    part_rows = "".join(f"| {stem} | {n:,} | {s['step']} | {s['wall_seconds']:.0f} | {len(s.get('legs', []))} | "
                        f"{s['heldout_loss']:.5f} |\n" for stem, s, n in parts)
    (target / "README.md").write_text(f"""# projdiff prior `{name}`

Four independent one-stem priors joined into one prior over the stems {", ".join(STEMS)}: the denoiser of
stem k sees stem k only, `D(x)_k = D_k(x_k)` (ISDM of the MSDM paper; `projdiff.priors.IndependentPriors`).
Each part is a UNet1DModel `{design.architecture.name}` on {design.segment}-sample segments of its stem;
{sum(n for _, _, n in parts):,} parameters in all. Each part's folder is a prior of its own, with its model card.

For **separation** (`projdiff separate`, also warm-started from NMF with `--init nmf`). Not for partial
generation: under this prior the stems are independent, so a given stem tells it nothing about the others
(`projdiff generate` uses the joint prior `bundled:chorales`).

## Why this design
It won the prior design study (`benchmarks/RESULTS.md`, "Prior design study for chorale separation"), where
seven designs were trained for equal wall-clock budgets on this CPU and scored on validation chorales; it was
also the first whose estimate, started from supervised NMF's, beats NMF's on average.

## Parts
| stem | parameters | steps | wall time (s) | legs | held-out denoising loss |
|---|---|---|---|---|---|
{part_rows}
- Command: `{command}`; without `--bundle` the same command trains the four parts (resuming from their
  checkpoints), or two at a time with `--stems soprano,alto` and `--stems tenor,bass` in two processes
- Wall time: {seconds:.0f} s ({seconds / 3600:.2f} h) over the four parts, one CPU core each (two processes at a time)

## Recommended sampler
`projdiff.json` metadata `"sampler"` (that of `bundled:chorales`): 30 noise levels on a Karras schedule from
0.25 down to 0.0025 (waveform units), 8 inner ProjDiff iterations per level with step size 0.2 and momentum
0.5. SI-SDRi (MSDM protocol) on the first 8 s of 4 validation chorales (never the test chorales), seed 0,
after {entry['hours']:.2f} h of training:

| start | SI-SDRi (dB): {" / ".join(STEMS)} | average |
|---|---|---|
{row("30 steps, 8 inner, step 0.2, momentum 0.5", scratch, bold=True)}{row("supervised NMF alone", nmf)}{row("from NMF: 10 levels, sigma 0.01 -> 0.0025", warm)}
## NMF dictionaries
`{SHIPPED}`: supervised NMF dictionaries ({nmf_model.dictionaries[0].shape[1]} components per stem,
{nmf_model.iterations} iterations; `projdiff fit-nmf`), a copy of the study's `--nmf {nmf_file}`. With this
prior, `projdiff separate MIX.wav --prior bundled:{name} --init nmf` starts from their estimate.

## Use
```python
import projdiff
prior = projdiff.load_prior("path/to/this/folder")   # or "bundled:{name}" for a bundled prior
```
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="runs/data/chorales-8k", help="rendered chorales or their archive")
    parser.add_argument("--out", default="runs/audio-design", help="one folder per design (training, study.json)")
    parser.add_argument("--budget-minutes", type=float, default=90.0, help="training wall time per design")
    parser.add_argument("--designs", default=",".join(d.name for d in DESIGNS))
    parser.add_argument("--tracks", type=int, default=4, help="validation chorales evaluated (default 4)")
    parser.add_argument("--seconds", type=float, default=8.0, help="first seconds of each (default 8)")
    parser.add_argument("--nmf", help="NMF dictionaries ('projdiff fit-nmf') for the warm-start column")
    parser.add_argument("--stems", default=",".join(STEMS),
                        help="the stems whose one-stem priors this process trains (isdm; default all four)")
    parser.add_argument("--quick", action="store_true", help="tiny networks, seconds of training (smoke run)")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--bundle", metavar="DIR",
                        help="copy the trained isdm design into DIR (a new folder) as a prior with model cards")
    args = parser.parse_args()
    stems = tuple(args.stems.split(","))
    if not set(stems) <= set(STEMS):
        parser.error(f"--stems: expected names among {','.join(STEMS)}, got {args.stems!r}")
    if args.bundle and (args.designs != "isdm" or not args.nmf or Path(args.bundle).exists()):
        parser.error(f"--bundle: expected a new folder, --designs isdm and --nmf, got {args.bundle!r}"
                     f"{' (exists)' if Path(args.bundle).exists() else ''} with --designs {args.designs}"
                     f"{'' if args.nmf else ' and no --nmf'}")
    data, out = ChoraleStems(Path(args.data)), Path(args.out)
    designs = tuple(d for d in (QUICK if args.quick else DESIGNS) if d.name in args.designs.split(","))
    budget, chunk, steps = (2.0, 2, 2) if args.quick else (60 * args.budget_minutes, 100, 30)
    tracks, rate = data.tracks("validation")
    tracks = [torch.as_tensor(t[:, : int(args.seconds * rate)]) for t in tracks[: args.tracks]]
    nmf = NMFModel.load(args.nmf) if args.nmf else None
    for design in designs:
        started = time.time()
        result = trained(design, data, out, budget, chunk, stems)
        if result is None:
            print(design.name, "trained; the other stems' priors are not at the budget yet: no evaluation", flush=True)
            continue
        run, summary = result
        study_file = out / design.name / "study.json"                # one file per design: designs may run in
        study = json.loads(study_file.read_text()) if study_file.is_file() else {}   # parallel processes
        key = str(summary["step"])
        if key not in study:
            study[key] = {"design": design.name, "notes": design.notes, "steps": summary["step"],
                          "hours": summary["wall_seconds"] / 3600, "heldout_loss": summary["heldout_loss"],
                          **evaluate(run, tracks, rate, steps, nmf)}
            study_file.write_text(json.dumps(study, indent=1))
        print(design.name, study[key]["scratch"]["sisdri_avg"], f"{time.time() - started:.0f} s", flush=True)
        if args.bundle:
            command = " ".join(["python", "benchmarks/audio_design.py"] + sys.argv[1:])
            bundle(design, data, out / design.name, Path(args.bundle), study[key], command, Path(args.nmf))
    entries = [e for path in sorted(out.glob("*/study.json")) for e in json.loads(path.read_text()).values()]
    rows = []
    for entry in sorted(entries, key=lambda e: (e["design"], e["steps"])):
        r = entry["scratch"]
        warm = (f"{entry['warm']['sisdri_avg'] - entry['nmf']['sisdri_avg']:+.2f}" if "warm" in entry else "-")
        rows.append([entry["design"], entry["notes"], entry["steps"], f"{entry['hours']:.2f}",
                     f"{entry['heldout_loss']:.4f}"] + [f"{r['stems'][s]['sisdri']:.2f}" for s in STEMS]
                    + [f"{r['sisdri_avg']:.2f}", warm])
    train_tracks, _ = data.tracks("train")
    minutes = sum(t.shape[-1] for t in train_tracks) / rate / 60
    body = (f"Trained on the {len(train_tracks)} training chorales of `{args.data}` ({minutes:.1f} min); scored on "
            f"{len(tracks)} of its validation chorales, the first {args.seconds:g} s of each; training "
            f"budget of this run {budget / 60:g} min per design; each row is one evaluated checkpoint, at the training "
            "time in its hours column (resumed legs accumulate). SI-SDRi in dB (MSDM protocol) from "
            "scratch; warm start: ProjDiff from NMF (10 levels from sigma 0.01 in waveform units, 0.04 in the STFT "
            "designs' weighted units) minus NMF (dB, > 0 = the prior improves NMF). "
            "The held-out loss is over each design's own training noise levels (all time steps, or the sampler's "
            "range for `waveform-range`), so it compares steps of one design, not designs.\n\n"
            + table(["design", "what", "steps", "hours", "held-out loss"] + list(STEMS) + ["avg", "warm - NMF"],
                    rows))
    emit(args.write and not args.quick, "audio-design", "Prior design study for chorale separation (audio issue)",
         body)


if __name__ == "__main__":
    main()
