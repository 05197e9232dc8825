"""Files written by separation and generation: one WAV per stem, a spectrogram PNG, metrics JSON."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from projdiff.utils.files import write_bytes


def spectrogram_png(tracks: list[tuple[str, torch.Tensor]], rate: int) -> bytes:
    """Log-magnitude spectrograms (one row per named mono track (N,)) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torchaudio

    spec = torchaudio.transforms.Spectrogram(n_fft=512, hop_length=128, power=2.0)
    fig, axes = plt.subplots(len(tracks), 1, figsize=(10, 1.6 * len(tracks)), squeeze=False, sharex=True)
    for ax, (name, audio) in zip(axes[:, 0], tracks):
        power = spec(audio.float())
        db = 10 * torch.log10(power + 1e-10)
        seconds = audio.shape[-1] / rate
        ax.imshow(db.numpy(), origin="lower", aspect="auto", extent=(0, seconds, 0, rate / 2000),
                  vmin=float(db.max()) - 80, vmax=float(db.max()), cmap="magma")
        ax.set_ylabel(f"{name}\nkHz", fontsize=8)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def write_spectrograms(path: Path, tracks: list[tuple[str, torch.Tensor]], rate: int) -> None:
    """Write the spectrogram PNG of channel 0 of each (C, N) track, atomically."""
    write_bytes(path, spectrogram_png([(n, t[0] if t.dim() == 2 else t) for n, t in tracks], rate))
