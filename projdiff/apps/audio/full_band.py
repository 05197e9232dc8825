"""Full band: what the prior cannot model is still given to the stems, so that they sum to the input.

A prior at ``P`` Hz separates the mixture resampled to ``P``; its stems, resampled back to the
input's rate ``R``, sum to the mixture low-passed at ``P / 2`` (plus resampling error). The rest,
``r = mixture - sum of stems``, is split among the stems by this rule (``assign_residual``):

- STFT of ``r`` at the input's rate (periodic Hann window of about 64 ms, a power of two; hop a
  quarter of it);
- in every frame, stem ``k`` gets the share ``e_k / sum_j e_j`` of the whole frame of ``r``, where
  ``e_k`` is stem ``k``'s energy in that frame in the top octave the prior models,
  ``[P / 4, P / 2)`` (2-4 kHz for an 8 kHz prior): content above the prior's band is assumed to
  belong to the instruments that sound at the top of it (harmonics continue upwards). A frame where
  no stem has energy there is split by the stems' energy over the whole band, and a frame where all
  stems are silent equally;
- the shares of a frame sum to 1, and the inverse STFT is linear, so the stems then sum to the input
  mixture at its own rate (to float rounding).

With a noisy mixture (``sigma_y > 0``) only the part of ``r`` above ``P / 2`` is assigned (in band,
``r`` is the noise the separation removed, which must not come back); the stems then sum to the
mixture above ``P / 2`` and to the denoised mixture below.
"""

from __future__ import annotations

import math

import torch


def frame_size(rate: int) -> int:
    """STFT length: the power of two nearest to 64 ms at ``rate`` Hz."""
    return 2 ** round(math.log2(0.064 * rate))


def assign_residual(stems: torch.Tensor, mixture: torch.Tensor, rate: int, prior_rate: int, *,
                    in_band: bool = True) -> torch.Tensor:
    """Add the mixture's remainder to the stems by the rule of the module docstring.

    Parameters
    ----------
    stems : tensor of shape (C, K, N)
        Separated stems at ``rate`` Hz.
    mixture : tensor of shape (C, N)
    rate, prior_rate : int
        The input's and the prior's sample rates (Hz).
    in_band : bool, default True
        Assign the whole remainder (noise-free mixture); False: only what lies above ``prior_rate / 2``.

    Returns
    -------
    tensor of shape (C, K, N), float32.
    """
    n_fft = frame_size(rate)
    hop = n_fft // 4
    window = torch.hann_window(n_fft, dtype=torch.float64)
    n = mixture.shape[-1]
    x = stems.double()
    residual = mixture.double() - x.sum(1)                                     # (C, N)
    pad = max(0, n_fft - n)  # torch.stft needs at least n_fft samples (centred frames)

    def spec(signal: torch.Tensor) -> torch.Tensor:
        return torch.stft(torch.nn.functional.pad(signal, (0, pad)), n_fft, hop, window=window, center=True,
                          return_complex=True)

    r = spec(residual)                                                         # (C, F, T)
    freqs = torch.fft.rfftfreq(n_fft, 1 / rate, dtype=torch.float64)
    if not in_band:
        r = r * (freqs >= prior_rate / 2)[:, None]
    power = spec(x.reshape(-1, n)).abs().pow(2).reshape(*x.shape[:2], *r.shape[-2:])   # (C, K, F, T)
    top = ((freqs >= prior_rate / 4) & (freqs < prior_rate / 2))[:, None]
    energy = (power * top).sum(-2)                                             # (C, K, T)
    total = energy.sum(1, keepdim=True)
    fallback = power.sum(-2)
    energy = torch.where(total > 1e-20, energy, fallback)
    energy = torch.where(energy.sum(1, keepdim=True) > 1e-20, energy, torch.ones_like(energy))
    shares = energy / energy.sum(1, keepdim=True)                              # (C, K, T), sums to 1 over K
    parts = torch.istft((shares[:, :, None] * r[:, None]).reshape(-1, *r.shape[-2:]), n_fft, hop, window=window,
                        center=True, length=n + pad)[..., :n]
    return (x + parts.reshape(x.shape)).float()
