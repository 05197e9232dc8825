"""Source separation and partial generation of audio with a multi-source (joint) diffusion prior.

The prior models K stems at once (channels = stems) on waveform segments (``stem_prior.AudioPrior``:
the prior and its card: sample rate, stem names, segment length, waveform scale, recommended sampler).

- Separation is ``solve(SumOfSources((K, L)), prior, mixture)``; partial generation is
  ``solve(SourceMask(given, (K, L)), prior, given_stems)``.
- Any length: the signal is cut into segments of L samples overlapping by ``overlap`` (default a
  quarter), solved as one batch, and overlap-added with linear cross-fades normalised to sum to 1.
  Since every segment's stems add up to that segment's mixture, the cross-faded stems still add up
  to the input mixture (noise-free case).
- Any sample rate: input is resampled to the prior's rate (torchaudio) and the stems back to the
  input's rate; what the prior cannot hold (above its Nyquist frequency, and resampling error) is
  then given to the stems by the rule of ``full_band.py``, so the stems of a noise-free mixture sum to
  it at its own rate.
- Stereo: each channel is separated on its own (channels become batch items, with their own seeds)
  and the stems are written with the input's channels.
- Sampler settings: the prior's recommendation (``AudioPrior.solve_settings``) unless given.
"""

from __future__ import annotations

import sys

import torch

from projdiff.apps.audio.full_band import assign_residual
from projdiff.apps.audio.stem_prior import AudioPrior
from projdiff.apps.budget import check_memory, estimate_solve
from projdiff.engine import solve
from projdiff.operators import SourceMask, SumOfSources


MAX_RATE_RATIO = 32


def check_rate(rate: int, target: int, what: str) -> None:
    """ValueError naming ``what`` when ``rate`` is more than ``MAX_RATE_RATIO`` times from the prior's ``target``."""
    if rate <= 0 or max(rate, target) / min(rate, target) > MAX_RATE_RATIO:
        raise ValueError(f"{what}: sample rate {rate} Hz is too far from the prior's {target} Hz "
                         f"(at most {MAX_RATE_RATIO} times higher or lower)")


def resample(audio: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """Resample (..., N) audio from ``rate`` to ``target`` Hz (torchaudio, band-limited sinc)."""
    if rate == target:
        return audio
    import torchaudio

    check_rate(rate, target, "audio")
    return torchaudio.functional.resample(audio, rate, target)


def _solve_segments(op, audio_prior: AudioPrior, y: torch.Tensor, *, steps: int, progress: bool, device, **options):
    """``solve`` on a batch of segments, after a memory check (and a time estimate with ``progress``)."""
    items, segment = y.shape[0], audio_prior.card.segment
    estimate = estimate_solve(audio_prior.prior, items, (segment,), steps + 1, time_it=progress)
    if estimate is not None:
        what = f"{items} segment(s) of {segment} samples"
        check_memory(what, estimate.bytes, device, "use a shorter file")
        if progress:
            print(f"{what}, {steps} steps on {device}: {estimate.describe()}", file=sys.stderr)
    if "init" in options:
        options["init"] = options["init"].to(device)
    result = solve(op.to(device), audio_prior.waveform_prior(), y.to(device), steps=steps, progress=progress,
                   **options)
    return result.x.float().cpu()


def _place(audio_prior: AudioPrior, device, dtype) -> torch.device:
    """Move the prior to ``device``/``dtype`` (when given); returns its device."""
    if device is not None or dtype is not None:
        audio_prior.prior.to(device=device, dtype=dtype)
    param = next(audio_prior.prior.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def fit_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    """(..., M) -> (..., length): cut or zero-pad at the end (resampling there and back may add a sample)."""
    return torch.nn.functional.pad(audio, (0, max(0, length - audio.shape[-1])))[..., :length]


def segment_starts(length: int, segment: int, hop: int) -> list[int]:
    """Starts of segments covering ``[0, length)``; the last one ends at ``max(length, segment)``."""
    if length <= segment:
        return [0]
    starts = list(range(0, length - segment, hop))
    return starts + [length - segment]


def crossfade(segment: int, overlap: int) -> torch.Tensor:
    """Weights of shape (segment,): linear ramps of ``overlap`` samples at both ends, 1 inside."""
    w = torch.ones(segment, dtype=torch.float64)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap
        w[:overlap], w[-overlap:] = ramp, ramp.flip(0)
    return w


def _split(signal: torch.Tensor, segment: int, hop: int) -> tuple[torch.Tensor, list[int], int]:
    """(C, N) -> (C * S, *, segment) segments (zero-padded to ``segment``), their starts and N."""
    n = signal.shape[-1]
    padded = torch.nn.functional.pad(signal, (0, max(0, segment - n)))
    starts = segment_starts(padded.shape[-1], segment, hop)
    return torch.stack([padded[..., s : s + segment] for s in starts], dim=1), starts, n


def _overlap_add(pieces: torch.Tensor, starts: list[int], n: int, overlap: int) -> torch.Tensor:
    """(C, S, K, segment) pieces -> (C, K, N) with normalised cross-fades."""
    segment = pieces.shape[-1]
    total = max(n, segment)
    out = torch.zeros(*pieces.shape[:1], *pieces.shape[2:-1], total, dtype=torch.float64)
    norm = torch.zeros(total, dtype=torch.float64)
    w = crossfade(segment, overlap)
    for i, s in enumerate(starts):
        out[..., s : s + segment] += w * pieces[:, i].double()
        norm[s : s + segment] += w
    return (out / norm)[..., :n].float()


def separate(mixture: torch.Tensor, rate: int, audio_prior: AudioPrior, *, sigma_y: float = 0.0,
             steps: int | None = None, seed: int = 0, overlap: float = 0.25, progress: bool = False,
             init: torch.Tensor | None = None, device=None, dtype=None, **options) -> torch.Tensor:
    """Separate a mixture into the prior's stems.

    Parameters
    ----------
    mixture : tensor of shape (C, N)
        C channels (1 = mono, 2 = stereo) at ``rate`` Hz, waveform units.
    rate : int
    audio_prior : AudioPrior
    sigma_y : float, default 0
        Noise on the mixture, waveform units at the prior's rate.
    steps : int, optional
        Noise levels; default: the prior's recommendation (``AudioPrior.solve_settings``), else 100.
    overlap : float, default 0.25
        Fraction of a segment shared by neighbouring segments.
    init : tensor of shape (C, K, N), optional
        A first estimate of the stems at ``rate`` (for example a mask-based separation), refined
        from the first noise level of the schedule (ProjDiff's ``init``); give ``sigmas`` or a
        prior recommendation that starts low enough for it to matter.
    device, dtype : optional
        Where the prior runs (it is moved there) and its weights' dtype; default: as it is.

    Returns
    -------
    tensor of shape (C, K, N): K stems per channel at ``rate``, summing to the mixture (with
    ``sigma_y > 0``: to the denoised mixture below the prior's Nyquist frequency, see ``full_band.py``).
    """
    ap = audio_prior
    x = resample(mixture.float(), rate, ap.card.sample_rate)
    k, seg = len(ap.card.stems), ap.card.segment
    lap = int(round(overlap * seg))
    chunks, starts, n = _split(x, seg, seg - lap)                     # (C, S, L)
    c, s = chunks.shape[:2]
    op = SumOfSources((k, seg))
    steps, options = ap.solve_settings(steps, options)
    if init is not None:
        if tuple(init.shape) != (mixture.shape[0], k, mixture.shape[-1]):
            raise ValueError(f"init: expected shape {(mixture.shape[0], k, mixture.shape[-1])} (channels, stems, "
                             f"samples), got {tuple(init.shape)}")
        first = resample(init.float(), rate, ap.card.sample_rate)
        options["init"] = _split(first, seg, seg - lap)[0].reshape(c * s, k, seg)
    device = _place(ap, device, dtype)
    x = _solve_segments(op, ap, chunks.reshape(c * s, seg), sigma_y=sigma_y, steps=steps, seed=seed,
                        progress=progress, device=device, **options)
    stems = _overlap_add(x.reshape(c, s, k, seg), starts, n, lap)
    back = fit_length(resample(stems, ap.card.sample_rate, rate), mixture.shape[-1])
    return assign_residual(back, mixture, rate, ap.card.sample_rate, in_band=sigma_y == 0)


def generate(given: dict[str, torch.Tensor], rate: int, audio_prior: AudioPrior, *, steps: int | None = None,
             seed: int = 0, overlap: float = 0.25, progress: bool = False, device=None, dtype=None,
             **options) -> torch.Tensor:
    """Generate the missing stems so that they fit the given ones.

    Parameters
    ----------
    given : dict stem name -> tensor of shape (C, N)
        At least one stem of the prior, all with the same shape, at ``rate`` Hz.
    steps : int, optional
        Noise levels; default: the prior's recommendation, else 100.
    device, dtype : optional
        As in :func:`separate`.

    Returns
    -------
    tensor of shape (C, K, N): all K stems at ``rate``, the given ones exactly as given.
    """
    ap = audio_prior
    unknown = sorted(set(given) - set(ap.card.stems))
    if unknown:
        raise ValueError(f"--given: unknown stem(s) {', '.join(unknown)}; the prior's stems are "
                         f"{', '.join(ap.card.stems)}")
    if not given or len(given) == len(ap.card.stems):
        raise ValueError(f"--given: expected between 1 and {len(ap.card.stems) - 1} stems, got {len(given)}")
    shapes = {tuple(v.shape) for v in given.values()}
    if len(shapes) != 1:
        raise ValueError(f"--given: stems must have the same channels and length, got shapes {sorted(shapes)}")
    index = [ap.card.stems.index(name) for name in given]
    prior_rate = ap.card.sample_rate
    stack = torch.stack([resample(given[name].float(), rate, prior_rate) for name in given], dim=1)  # (C, G, N)
    seg, lap = ap.card.segment, int(round(overlap * ap.card.segment))
    c, g, _ = stack.shape
    chunks, starts, n = _split(stack, seg, seg - lap)                 # (C, S, G, L)
    s = chunks.shape[1]
    op = SourceMask(index, (len(ap.card.stems), seg))
    steps, options = ap.solve_settings(steps, options)
    device = _place(ap, device, dtype)
    x = _solve_segments(op, ap, chunks.reshape(c * s, g, seg), steps=steps, seed=seed, progress=progress,
                        device=device, **options)
    stems = fit_length(resample(_overlap_add(x.reshape(c, s, len(ap.card.stems), seg), starts, n, lap),
                                ap.card.sample_rate, rate), next(iter(given.values())).shape[-1])
    stems[:, index] = torch.stack([given[name].float() for name in given], dim=1)  # the given stems, full band
    return stems


def is_silent(audio: torch.Tensor) -> bool:
    """True when the signal has no energy above float32 rounding."""
    return float(audio.abs().max()) < 1e-7
