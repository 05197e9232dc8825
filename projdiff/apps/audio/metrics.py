"""SI-SDR and the MSDM evaluation protocol for separated stems.

``si_sdr(estimate, reference) = 10 log10(||a t||^2 / ||a t - p||^2)`` with ``a = <p, t> / ||t||^2``
(no mean removal; ``eps = 1e-8`` in each term, as the MSDM evaluation code). The protocol cuts whole
tracks into 4 s windows with a 2 s hop (the last window may be shorter), skips windows in which at
most one reference stem is active (a stem is silent when ``||s||_2 / len(s) < 1.5e-5``), and reports
per stem the mean over the kept windows of ``SI-SDR(estimate) - SI-SDR(mixture)`` (the improvement,
SI-SDRi), plus the average over stems.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-8
SILENCE = 1.5e-5


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB over the last axis (float64); shapes broadcast, result has the leading shape."""
    p, t = estimate.double(), reference.double()
    a = ((p * t).sum(-1, keepdim=True) + EPS) / ((t * t).sum(-1, keepdim=True) + EPS)
    target = a * t
    return 10 * torch.log10(((target**2).sum(-1) + EPS) / (((target - p) ** 2).sum(-1) + EPS))


def windows(length: int, rate: int, seconds: float = 4.0, hop_seconds: float = 2.0) -> list[tuple[int, int]]:
    """(start, end) sample ranges of the protocol's windows."""
    size, hop = int(seconds * rate), int(hop_seconds * rate)
    count = max(1, math.ceil((length - hop) / hop))
    return [(i * hop, min(i * hop + size, length)) for i in range(count)]


def msdm_scores(estimates: torch.Tensor, references: torch.Tensor, mixture: torch.Tensor, rate: int) -> dict:
    """Per-window SI-SDR and SI-SDRi of one track.

    Parameters
    ----------
    estimates, references : tensors of shape (K, N)
    mixture : tensor of shape (N,)

    Returns
    -------
    dict with ``sisdri`` and ``sisdr`` (lists of per-window tensors of shape (K,)) and ``skipped``.
    """
    if estimates.shape != references.shape or references.shape[-1] != mixture.shape[-1]:
        raise ValueError(f"estimates {tuple(estimates.shape)}, references {tuple(references.shape)} and mixture "
                         f"{tuple(mixture.shape)} must have matching shapes (K, N) and (N,)")
    out = {"sisdri": [], "sisdr": [], "skipped": 0}
    for start, end in windows(references.shape[-1], rate):
        ref = references[:, start:end].double()
        active = ref.norm(dim=-1) / ref.shape[-1] >= SILENCE
        if int(active.sum()) <= 1:
            out["skipped"] += 1
            continue
        est_score = si_sdr(estimates[:, start:end], ref)
        mix_score = si_sdr(mixture[start:end].expand_as(ref), ref)
        out["sisdr"].append(est_score)
        out["sisdri"].append(est_score - mix_score)
    return out


def summarize(scores: list[dict], stems: tuple[str, ...]) -> dict:
    """Mean SI-SDRi and SI-SDR per stem over all kept windows of several tracks, plus averages."""
    sisdri = torch.stack([w for s in scores for w in s["sisdri"]])
    sisdr = torch.stack([w for s in scores for w in s["sisdr"]])
    per_stem = {name: {"sisdri": round(float(sisdri[:, k].mean()), 3), "sisdr": round(float(sisdr[:, k].mean()), 3)}
                for k, name in enumerate(stems)}
    return {"stems": per_stem, "sisdri_avg": round(float(sisdri.mean()), 3), "sisdr_avg": round(float(sisdr.mean()), 3),
            "windows": int(sisdri.shape[0]), "skipped": sum(s["skipped"] for s in scores)}
