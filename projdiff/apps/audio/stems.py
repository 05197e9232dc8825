"""Multi-stem audio tracks for training: a folder per track, one WAV per stem.

Layout: ``ROOT/<track>/<stem>.wav`` for every stem name (mono, same length and sample rate within a
track; the chorale builder writes exactly this). Items are random segments of shape (K, L) in the
prior's data space, ``waveform / waveform_scale``, with an optional random gain per stem; positions
and gains are a pure function of ``(seed, epoch, index)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from projdiff.utils.seeds import derive_seed


def load_tracks(root: str | Path, stems: Sequence[str]) -> tuple[list[np.ndarray], int]:
    """All tracks under ``root`` as float32 arrays (K, N); returns ``(tracks, sample_rate)``."""
    import soundfile

    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not folders:
        raise FileNotFoundError(f"{root}: no track folders (expected {root}/<track>/<stem>.wav)")
    tracks, rate = [], None
    for folder in folders:
        parts = []
        for stem in stems:
            path = folder / f"{stem}.wav"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing stem {stem!r}")
            try:
                audio, sr = soundfile.read(path, dtype="float32", always_2d=True)
            except RuntimeError:  # soundfile's LibsndfileError: junk, truncated or an unknown format
                raise ValueError(f"{path}: not an audio file soundfile can read") from None
            if audio.shape[1] != 1:
                raise ValueError(f"{path}: expected mono audio, got {audio.shape[1]} channels")
            if not np.isfinite(audio).all():
                raise ValueError(f"{path}: NaN or infinite samples")
            if rate is not None and sr != rate:
                raise ValueError(f"{path}: sample rate {sr} differs from the others ({rate})")
            rate = sr
            parts.append(audio[:, 0])
        if len({len(p) for p in parts}) != 1:
            raise ValueError(f"{folder}: stems of different lengths {[len(p) for p in parts]}")
        tracks.append(np.stack(parts))
    return tracks, rate


class StemSegments(Dataset):
    """Random (K, L) segments of multi-stem tracks, scaled by ``1 / waveform_scale``.

    Parameters
    ----------
    tracks : list of arrays (K, N)
    segment : int
        L, samples per item.
    waveform_scale : float
        Model data = waveform / waveform_scale.
    gain_jitter : float, default 0.0
        Each stem is multiplied by a gain drawn uniformly from [1 - j, 1 + j].
    length : int, default 10000
        Items per epoch.
    seed : int, default 0
    """

    def __init__(self, tracks: Sequence[np.ndarray], segment: int, waveform_scale: float, *,
                 gain_jitter: float = 0.0, length: int = 10000, seed: int = 0):
        usable = [t for t in tracks if t.shape[1] >= segment]
        if not usable:
            raise ValueError(f"segment: every track is shorter than {segment} samples")
        self.tracks = [torch.from_numpy(t) for t in usable]
        weights = torch.tensor([t.shape[1] - segment + 1 for t in usable], dtype=torch.float64)
        self.weights = weights / weights.sum()
        self.segment, self.scale, self.jitter = segment, waveform_scale, gain_jitter
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(derive_seed("projdiff.stems", self.seed, self.epoch, index))
        track = self.tracks[int(torch.multinomial(self.weights, 1, generator=g))]
        start = int(torch.randint(track.shape[1] - self.segment + 1, (1,), generator=g))
        item = track[:, start : start + self.segment] / self.scale
        if self.jitter:
            item = item * (1 + self.jitter * (2 * torch.rand(track.shape[0], 1, generator=g) - 1))
        return item
