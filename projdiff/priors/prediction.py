"""What a diffusers UNet predicts, in one table: how its output becomes ``x0`` and what it is trained on.

A variance-preserving model sees ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``, which is
``c * (x0 + sigma eps)`` in sigma-space with ``sigma = sqrt((1 - abar) / abar)`` and
``c = 1 / sqrt(1 + sigma^2)``. For each prediction type the table gives

- ``denoised(x, sigma, out)``: the estimate of ``x0`` from the sigma-space input ``x`` and the
  network output (used by ``DiffusersPrior.denoise``):

  - ``epsilon``: ``x0 = x - sigma * eps``;
  - ``v_prediction``: ``x0 = c^2 x - sigma c v``;
  - ``sample``: the output is ``x0``;

- ``target(scheduler, x0, noise, t)``: what the network is trained to output at time step ``t``
  (used by ``denoising_loss``): the noise, the velocity ``sqrt(abar) eps - sqrt(1 - abar) x0``, or
  ``x0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Prediction:
    """One prediction type of a diffusers scheduler (see the module docstring)."""

    name: str
    denoised: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    target: Callable[[object, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _c(sigma: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + sigma**2).sqrt()


PREDICTIONS: dict[str, Prediction] = {
    "epsilon": Prediction("epsilon", lambda x, s, out: x - s * out, lambda sch, x0, noise, t: noise),
    "v_prediction": Prediction("v_prediction", lambda x, s, out: _c(s) ** 2 * x - s * _c(s) * out,
                               lambda sch, x0, noise, t: sch.get_velocity(x0, noise, t)),
    "sample": Prediction("sample", lambda x, s, out: out, lambda sch, x0, noise, t: x0),
}


def prediction_of(scheduler) -> Prediction:
    """The ``Prediction`` of ``scheduler.config.prediction_type``; ValueError naming it when unknown."""
    kind = scheduler.config.prediction_type
    if kind not in PREDICTIONS:
        raise ValueError(f"scheduler prediction_type: expected one of {tuple(PREDICTIONS)}, got {kind!r}")
    return PREDICTIONS[kind]


def condition_channels_of(unet) -> int:
    """Input channels beyond the output channels: the condition of a conditional UNet."""
    return unet.config.in_channels - unet.config.out_channels


def denoising_loss(unet, scheduler, batch: torch.Tensor, generator: torch.Generator,
                   condition_channels: int = 0) -> torch.Tensor:
    """Mean squared error of the UNet's prediction (epsilon, v or sample) at uniform random time steps.

    For a conditional UNet the last ``condition_channels`` channels of ``batch`` are the condition:
    they are not noised and are concatenated to the noisy data, as ``DiffusersPrior`` does.
    """
    prediction = prediction_of(scheduler)
    x0 = batch[:, : batch.shape[1] - condition_channels]
    condition = batch[:, x0.shape[1] :] if condition_channels else None
    n = x0.shape[0]
    t = torch.randint(scheduler.config.num_train_timesteps, (n,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    t, noise = t.to(x0.device), noise.to(x0.device)
    xt = scheduler.add_noise(x0, noise, t)
    target = prediction.target(scheduler, x0, noise, t)
    inputs = xt if condition is None else torch.cat([xt, condition], dim=1)
    return torch.nn.functional.mse_loss(unet(inputs, t).sample.float(), target.float())


@torch.no_grad()
def heldout_loss(unet, scheduler, data: torch.Tensor, batch_size: int = 250, seed: int = 12345) -> float:
    """``denoising_loss`` on fixed data with fixed times and noise (comparable across runs)."""
    g = torch.Generator().manual_seed(seed)
    extra = condition_channels_of(unet)
    total = 0.0
    for start in range(0, data.shape[0], batch_size):
        chunk = data[start : start + batch_size]
        total += denoising_loss(unet, scheduler, chunk, g, extra).item() * chunk.shape[0]
    return total / data.shape[0]
