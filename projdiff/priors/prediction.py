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


def log_sigma_uniform_weights(scheduler, sigma_range: tuple[float, float], name: str = "sigma_range") -> torch.Tensor:
    """Probabilities of the integer time steps that make ``log sigma`` uniform over ``sigma_range``.

    ``sigma = sqrt((1 - abar_t) / abar_t)`` in the model's data units. Step ``t`` gets the width in
    ``log sigma`` of its interval ``(log sigma_{t-1}, log sigma_t]`` (for ``t = 0``, that of the next interval), and
    steps outside the range get 0. Raises ValueError naming ``name`` (the argument) when no step lies in it.
    """
    low, high = sigma_range
    abar = scheduler.alphas_cumprod.double()
    log_sigma = ((1 - abar) / abar).sqrt().log()
    width = torch.diff(log_sigma, prepend=log_sigma[:1] - (log_sigma[1] - log_sigma[0]))
    inside = (log_sigma >= torch.tensor(low).log()) & (log_sigma <= torch.tensor(high).log())
    if not bool(inside.any()) or not 0 < low < high:
        raise ValueError(f"{name}: expected 0 < low < high covering some of the schedule's noise levels "
                         f"{float(log_sigma[0].exp()):.3g}..{float(log_sigma[-1].exp()):.3g}, got {sigma_range}")
    weights = torch.where(inside, width, torch.zeros_like(width))
    return (weights / weights.sum()).float()


def denoising_loss(unet, scheduler, batch: torch.Tensor, generator: torch.Generator,
                   condition_channels: int = 0, timestep_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of the UNet's prediction (epsilon, v or sample) at random time steps.

    Time steps are uniform over the schedule, or drawn with ``timestep_weights`` (one probability per
    step, e.g. ``log_sigma_uniform_weights``) when given. For a conditional UNet the last
    ``condition_channels`` channels of ``batch`` are the condition: they are not noised and are
    concatenated to the noisy data, as ``DiffusersPrior`` does.
    """
    prediction = prediction_of(scheduler)
    x0 = batch[:, : batch.shape[1] - condition_channels]
    condition = batch[:, x0.shape[1] :] if condition_channels else None
    n = x0.shape[0]
    if timestep_weights is None:
        t = torch.randint(scheduler.config.num_train_timesteps, (n,), generator=generator)
    else:
        t = torch.multinomial(timestep_weights, n, replacement=True, generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    t, noise = t.to(x0.device), noise.to(x0.device)
    xt = scheduler.add_noise(x0, noise, t)
    target = prediction.target(scheduler, x0, noise, t)
    inputs = xt if condition is None else torch.cat([xt, condition], dim=1)
    return torch.nn.functional.mse_loss(unet(inputs, t).sample.float(), target.float())


@torch.no_grad()
def heldout_loss(unet, scheduler, data: torch.Tensor, batch_size: int = 250, seed: int = 12345,
                 timestep_weights: torch.Tensor | None = None) -> float:
    """``denoising_loss`` on fixed data with fixed times and noise (comparable across runs that draw their
    time steps the same way)."""
    g = torch.Generator().manual_seed(seed)
    extra = condition_channels_of(unet)
    total = 0.0
    for start in range(0, data.shape[0], batch_size):
        chunk = data[start : start + batch_size]
        total += denoising_loss(unet, scheduler, chunk, g, extra, timestep_weights).item() * chunk.shape[0]
    return total / data.shape[0]
