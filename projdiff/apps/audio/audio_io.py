"""Audio files through soundfile: read as (channels, samples) float32, write atomically.

Outputs keep the input's sample format when asked (``subtype`` from ``audio_subtype``: 16-bit PCM
in, 16-bit PCM out; float in, float out); integer formats clip to [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from projdiff.utils.files import atomic_write


class AudioError(ValueError):
    """An audio file that cannot be used; the message starts with the file name."""


def read_audio(path: str | Path) -> tuple[torch.Tensor, int, list[str]]:
    """Read WAV/FLAC/OGG as a (C, N) float32 tensor; returns ``(audio, sample_rate, warnings)``.

    Raises ``AudioError`` for missing, unreadable, empty or non-finite files. Clipping (samples at
    full scale) and an all-silent file are reported in ``warnings``.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise AudioError(f"{path}: cannot read audio ({type(exc).__name__}: {exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: holds NaN or Inf samples")
    warnings = []
    peak = float(np.abs(data).max())
    if peak == 0:
        warnings.append(f"{path}: all samples are zero")
    elif peak >= 0.999:
        clipped = int((np.abs(data) >= 0.999).sum())
        warnings.append(f"{path}: {clipped} samples at full scale; the input is probably clipped")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate), warnings


def audio_subtype(path: str | Path) -> str:
    """The sample format of an audio file (soundfile's subtype: ``PCM_16``, ``FLOAT``, ...)."""
    import soundfile

    return soundfile.info(str(path)).subtype


def write_audio(path: str | Path, audio: torch.Tensor, rate: int, subtype: str | None = None) -> None:
    """Write (C, N) float audio atomically: WAV, or FLAC by suffix.

    ``subtype`` (e.g. the input's, from ``audio_subtype``) is the sample format when the file type
    has it; by default 32-bit float WAV or 24-bit FLAC. Integer (PCM) formats clip to [-1, 1].
    """
    import soundfile

    path = Path(path)
    fmt, default = ("FLAC", "PCM_24") if path.suffix.lower() == ".flac" else ("WAV", "FLOAT")
    subtype = subtype if subtype and soundfile.check_format(fmt, subtype) else default
    array = audio.detach().cpu().float().numpy().T
    if subtype.startswith("PCM") or subtype in ("ULAW", "ALAW"):
        array = np.clip(array, -1.0, 1.0)
    atomic_write(path, lambda tmp: soundfile.write(tmp, array, rate, format=fmt, subtype=subtype))
