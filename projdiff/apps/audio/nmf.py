"""Supervised NMF separation: one spectral dictionary per stem, learnt from isolated stems.

The baseline of the chorale benchmarks and the first estimate of ``projdiff separate --init nmf``.

- STFT: n_fft 512, hop 128, periodic Hann window, centred (64 ms at 8 kHz).
- Dictionaries: KL-divergence NMF of the magnitude spectra of each stem's training tracks,
  ``components`` columns per stem (default 32), ``iterations`` multiplicative updates (default
  200); frames below 1e-6 of a track's peak frame energy are dropped.
- Separation: activations of the concatenated dictionaries from ``iterations`` updates on the
  mixture's magnitude spectrum, then Wiener-style masks ``(W_k H_k)^2 / sum_j (W_j H_j)^2`` on
  the mixture's STFT, so the stems sum to the mixture (up to the inverse STFT).
- File (``NMFModel.save``): safetensors with one ``(F, components)`` tensor per stem and the
  sample rate and stem names in its metadata. ``projdiff fit-nmf`` writes it once. A prior folder may
  ship one as ``nmf.safetensors`` (``shipped_dictionaries``), which ``--init nmf`` then uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

N_FFT, HOP = 512, 128
KIND = "projdiff-nmf"
SHIPPED = "nmf.safetensors"


def shipped_dictionaries(prior: str | Path) -> Path | None:
    """The NMF dictionary file a prior ships (``nmf.safetensors`` in its folder: ``bundled:NAME`` or a
    local folder), or None."""
    from projdiff.utils.bundled import bundled_name, bundled_path

    name = bundled_name(prior)
    path = (bundled_path(name) if name is not None else Path(prior)) / SHIPPED
    return path if path.is_file() else None


def stft(x: torch.Tensor) -> torch.Tensor:
    """Complex STFT (F = 257, T) of a signal (N,)."""
    return torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT, dtype=x.dtype), center=True, return_complex=True)


def istft(z: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of ``stft`` (frames (..., F, T) -> (..., length))."""
    return torch.istft(z, N_FFT, HOP, window=torch.hann_window(N_FFT, dtype=z.real.dtype), center=True, length=length)


def kl_nmf(v: torch.Tensor, w: torch.Tensor | None, components: int, iterations: int,
           seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """KL-divergence NMF ``V ~ W H`` by multiplicative updates; ``W`` is learnt when None, else kept.

    Returns ``(W (F, components), H (components, T))``; columns of a learnt W sum to 1.
    """
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


def masked(mixture: torch.Tensor, power_estimates: torch.Tensor) -> torch.Tensor:
    """Apply masks ``P_k / sum_j P_j`` ((K, F, T) power estimates) to the mixture (N,); returns (K, N)."""
    z = stft(mixture)
    masks = power_estimates / power_estimates.sum(0, keepdim=True).clamp_min(1e-12)
    return torch.stack([istft(m * z, mixture.shape[-1]) for m in masks])


@dataclass(frozen=True)
class NMFModel:
    """Per-stem NMF dictionaries at ``sample_rate``.

    Attributes
    ----------
    sample_rate : int
    stems : tuple of str
    dictionaries : tuple of tensors (F, components), one per stem
    iterations : int
        Multiplicative updates of the activations when separating.
    """

    sample_rate: int
    stems: tuple[str, ...]
    dictionaries: tuple[torch.Tensor, ...]
    iterations: int = 200

    @classmethod
    def fit(cls, tracks: Sequence[np.ndarray | torch.Tensor], sample_rate: int, stems: Sequence[str], *,
            components: int = 32, iterations: int = 200) -> "NMFModel":
        """Learn one dictionary per stem from (K, N) training tracks."""
        dictionaries = []
        for k in range(len(stems)):
            frames = []
            for track in tracks:
                mag = stft(torch.as_tensor(track[k]).float()).abs()
                energy = (mag**2).sum(0)
                frames.append(mag[:, energy > 1e-6 * energy.max()])
            dictionaries.append(kl_nmf(torch.cat(frames, 1), None, components, iterations, seed=k)[0])
        return cls(sample_rate, tuple(stems), tuple(dictionaries), iterations)

    def separate(self, mixture: torch.Tensor) -> torch.Tensor:
        """Stems (K, N) of a mono mixture (N,) at ``sample_rate``."""
        w = torch.cat(self.dictionaries, 1)
        _, h = kl_nmf(stft(mixture.float()).abs(), w, w.shape[1], self.iterations, seed=0)
        parts = torch.split(torch.arange(w.shape[1]), [d.shape[1] for d in self.dictionaries])
        return masked(mixture.float(), torch.stack([(w[:, idx] @ h[idx]) ** 2 for idx in parts]))

    def estimate(self, mixture: torch.Tensor, rate: int, stems: Sequence[str]) -> torch.Tensor:
        """A first estimate (C, K, N) of the ``stems`` of a (C, N) mixture at ``rate`` Hz (each channel on its
        own, at the dictionaries' rate); ValueError when the dictionaries are of other stems."""
        from projdiff.apps.audio.separation import resample

        if tuple(stems) != self.stems:
            raise ValueError(f"--nmf: dictionaries of the stems {', '.join(self.stems)}; the prior's are "
                             f"{', '.join(stems)}")
        low = resample(mixture.float(), rate, self.sample_rate)
        first = torch.stack([self.separate(channel) for channel in low])
        return resample(first, self.sample_rate, rate)[..., : mixture.shape[-1]]

    def save(self, path: str | Path) -> None:
        """Write the dictionaries as safetensors (atomically)."""
        from safetensors.torch import save_file

        from projdiff.utils.files import atomic_write

        meta = {"kind": KIND, "sample_rate": str(self.sample_rate), "stems": json.dumps(list(self.stems)),
                "iterations": str(self.iterations), "n_fft": str(N_FFT), "hop": str(HOP)}
        tensors = {stem: d.contiguous() for stem, d in zip(self.stems, self.dictionaries)}
        atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=meta))

    @classmethod
    def load(cls, path: str | Path) -> "NMFModel":
        """Read a file written by ``save``; ValueError naming the file when it is not one."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such NMF dictionary file (write one with 'projdiff fit-nmf')")
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                if meta.get("kind") != KIND or int(meta.get("n_fft", 0)) != N_FFT:
                    raise ValueError
                stems = tuple(json.loads(meta["stems"]))
                dictionaries = tuple(f.get_tensor(stem) for stem in stems)
            return cls(int(meta["sample_rate"]), stems, dictionaries, int(meta["iterations"]))
        except Exception:  # noqa: BLE001 - safetensors raises several types for foreign files
            raise ValueError(f"{path}: not an NMF dictionary file written by 'projdiff fit-nmf'") from None
