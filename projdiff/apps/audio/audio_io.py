"""Audio files through soundfile: read as (channels, samples) float32, write atomically."""

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


def write_audio(path: str | Path, audio: torch.Tensor, rate: int) -> None:
    """Write (C, N) float audio as 32-bit float WAV (or FLAC by suffix, 24-bit), atomically."""
    import soundfile

    path = Path(path)
    array = audio.detach().cpu().float().numpy().T
    fmt, subtype = ("FLAC", "PCM_24") if path.suffix.lower() == ".flac" else ("WAV", "FLOAT")
    atomic_write(path, lambda tmp: soundfile.write(tmp, array, rate, format=fmt, subtype=subtype))
