"""ProjDiff (Zhang et al., NeurIPS 2024) in sigma-space: projection gradient descent on two variables.

The clean estimate ``x0`` and the auxiliary variable ``x_a = x0 + sigma_a eps`` (which satisfies
the noise-free constraint ``A x_a = y``) are updated along decreasing noise levels. At level
``sigma``, coordinate by coordinate:

- ``sigma >= sigma_a`` (the diffusion state is noisier than ``x_a``): ``x_t = x_a +
  sqrt(sigma^2 - sigma_a^2) eps`` with fresh ``eps``; after the ``x0`` step, ``x_a`` is re-encoded
  as ``P_y(x0 + sigma_a eps')``;
- ``sigma < sigma_a``: ``x_a`` is frozen and ``x_t`` lies between ``x0`` and ``x_a``: the
  Brownian bridge ``x0 + r^2 (x_a - x0) + sigma sqrt(1 - r^2) eps`` with ``r = sigma / sigma_a``
  (``bridge="stochastic"``, default), or the reference's deterministic
  ``x0 + r (x_a - x0)`` (``bridge="deterministic"``);

then ``x0 <- x0 + lr * v`` with ``v`` the momentum average of the truncated ELBO gradient
``D(x_t, sigma) - x0`` (no back-propagation through the denoiser). Coordinates with
``sigma_a = 0`` are known exactly, so there ``x0`` is the projected ``x_a``; in the noise-free
case one iteration is "step, project onto ``{A x = y}``, re-noise".

Default step size: ``lr = 1 + 0.8 * sigma_next / sigma`` (:func:`auto_step_size`). With the
truncated gradient, ``x0 <- x0 + lr (D(x0 + sigma eps) - x0)`` is a Langevin step of size
``lr sigma^2`` on the prior smoothed at level ``sigma``, with noise of variance ``lr^2 sigma^2``;
Langevin needs ``2 lr sigma^2``, hence ``lr = 2``: for a Gaussian prior that update leaves the prior
exactly invariant at every noise level, while ``lr`` in general leaves invariant a spread ``lr / 2``
times the right one (at small ``sigma``). ``lr = 1``, the reference's usual value ("replace x0 by
the denoised estimate"), therefore gives samples that are too close to each other. Two corrections
to ``lr = 2``: the directions the denoiser ignores are reflected (factor ``1 - lr``) without damping
at 2, and learned denoisers are not exact, so the fine-grid limit is 1.8 (damping factor 0.8, spread
0.9 of the exact one); and the invariance argument needs many small steps: on a coarse grid the
state is far from equilibrium when the level drops, an over-relaxed step overshoots, and the rule
falls towards 1 as the ratio ``sigma_next / sigma`` shrinks (the last step, to 0, has ``lr = 1``).
The exact-posterior benchmark (``benchmarks/conformance.py``) measures the rule against fixed step
sizes.

Over-relaxed noise (noise-free items, ``overrelaxation``). With fresh noise every update is a
random walk of step ``~ sigma`` in the directions the measurement leaves free, and the drift that
pulls them towards the posterior is ``lr sigma^2 / v`` per update for a direction of posterior
variance ``v``: at the low levels, where the prior smoothed at ``sigma`` is close to the prior, the
widest directions barely move, and they end with part of the spread of the smoothed posterior of
higher levels (on a random 20 x 48 matrix the top direction of the exact posterior kept 1.55 times
its variance at 100 levels, computed in closed form). ProjDiff's update is a Gibbs step on the pair
``(x0, x_t)``: draw ``x_t`` given ``x0``, then move ``x0`` to ``x0 + lr (D(x_t) - x0)``, which for
``lr = 2`` is the reflection of ``x0`` about ``E[x0 | x_t]`` and leaves a Gaussian ``p(x0 | x_t)``
invariant. Drawing ``x_t`` by over-relaxation instead, ``x_t = x0 + sigma (rho r + sqrt(1 -
rho^2) eps)`` with ``r = (x_t,prev - x0) / sigma_prev`` the previous residual, also leaves
``x_t | x0`` invariant for any ``rho``, and with ``rho < 0`` the two reflections carry the direction
of motion from one update to the next: the residual acts as a velocity (Horowitz's partial momentum
refreshment), so the free directions move ballistically instead of diffusing. With ``rho = -0.8``
and ``lr = 2`` the 100-level default reaches the exact spread within 6% on every noise-free
Gaussian conformance problem (random 20 x 48 matrix 1.31 -> 1.05, smooth prior with nugget 1e-3
1.31 -> 1.06; squared bias at most 0.01 MMSE in closed form, 0.25 before). It needs the exact reflection (``lr = 2``: with
1.95 the closed form gives a spread of 0.81-0.87, as the lost variance is carried along), levels
close to each other (each at least 0.8 of the previous one: at 30 levels it spreads a blur's
samples 1.46 times, fresh noise 0.79, closed form) and a conditional ``p(x0 | x_t)`` close to a Gaussian, so it acts at the fine levels only
(below 0.3 ``sigma_data``): at all levels a four-component mixture's samples leave their
components (weight error 0.23 instead of 0 on 2x super-resolution). Noisy items, whose ``x_t`` is
tied to ``x_a``, keep fresh noise. The reflection is exact only for an exact denoiser: with a
learned one it doubles the network's error at every update (the bundled Fashion-MNIST prior,
noise-free 4x super-resolution of 16 test images, 100 levels: per-sample PSNR 18.15 dB instead of
20.19, the mean of 4 samples 19.98 instead of 21.75), so ``solve`` turns ``"auto"`` on only for
priors that declare ``exact`` (the closed-form ones).

Limits (measured by ``benchmarks/conformance.py``): the iteration at a level samples roughly
the posterior of the prior smoothed at that level, and a sample changes mixture component only
while the level is above the distance between the components. A mixture's weights are therefore
decided at levels where the observed entries' evidence is blurred, and in more than a few
dimensions they stay between the prior's and the posterior's (8-D two-component mixture, 2 of 8
entries observed: ProjDiff puts about half of its samples in a component whose exact posterior
weight is 0.83, prior 0.30; ten times as many steps get closer but not there). Its share, 0.47
(0.64 where the exact weight is 0.98), is the exact weight under the prior smoothed at level 1
(0.49 and 0.68): the components stop exchanging samples near ``sigma = 1``. Other schedules, step
sizes, momentum and restricted encoding do not close the gap; four updates per level at 4x the NFE
narrow it (0.57 and 0.81); "Mixture mode weights: what was tried" in ``benchmarks/RESULTS.md``.
Strongly correlated posteriors need many low levels (``projdiff_sigmas`` puts 70 of 100 there);
noisy ones are still over-dispersed at 100 steps (spread 1.16 on 30% inpainting of a smooth prior
with nugget 1e-3 and ``sigma_y = 0.01``), as the slowest directions keep some of the spread of
higher levels; noise-free ones get the over-relaxed noise above.

Differences from the reference code (see ``docs/architecture.md``): sigma-space; its own noise
levels (``schedules.projdiff_sigmas``); the initial ``x_a`` is projected; over-relaxed noise for
noise-free items at the fine levels; the step size acts in every phase (the reference hard-sets ``x0`` before
``t_a``, which is the same as ``lr = 1`` there); the stochastic bridge; momentum for all data;
scalar and per-mode noise in one loop.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import torch
from tqdm.auto import tqdm

from projdiff.engine.observation import Problem, build_mode_space

BRIDGES = ("stochastic", "deterministic")

OVERRELAXATION = -0.8
"""Default ``overrelaxation`` of noise-free items (see :func:`sample_projdiff` and the module docstring)."""

OVERRELAXATION_MIN_RATIO = 0.8
"""``overrelaxation="auto"`` needs every over-relaxed level to be at least this fraction of the previous one."""

OVERRELAXATION_BELOW = 0.3 / 4.0
"""Over-relaxation acts at the levels ``<= OVERRELAXATION_BELOW * sigmas[0]``: with ``projdiff_sigmas``
(from 4 ``sigma_data``) the fine levels, below 0.3 ``sigma_data``."""


class DivergenceError(FloatingPointError):
    """A non-finite value appeared during the iterations."""


def _check_finite(value: torch.Tensor, step: int, steps: int, sigma: float) -> None:
    if not bool(torch.isfinite(value).all()):
        raise DivergenceError(f"solve diverged: non-finite values at step {step + 1} of {steps} "
                              f"(sigma={sigma:.4g}); try a smaller step_size or check the prior and operator")


def _step_size_rule(step_size) -> Callable[[float, float], float]:
    """``(sigma, sigma_next) -> lr`` from the ``step_size`` option, whose values must be finite and > 0."""
    if isinstance(step_size, str) and step_size == "auto":
        rule = auto_step_size
    elif callable(step_size):
        rule = step_size
    else:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Real) or not math.isfinite(step_size) \
                or step_size <= 0:
            raise ValueError(f"step_size: expected 'auto', a finite number > 0 or a callable, got {step_size!r}")
        return lambda _s, _n, value=float(step_size): value

    def checked(sigma: float, sigma_next: float) -> float:
        lr = float(rule(sigma, sigma_next))
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"step_size: the rule gave {lr} at sigma={sigma:.4g}; expected a finite number > 0")
        return lr

    return checked


def auto_step_size(sigma: float, sigma_next: float) -> float:
    """The default step-size rule: ``1 + 0.8 * sigma_next / sigma`` (see the module docstring)."""
    return 1.0 + 0.8 * sigma_next / sigma


def reflection_step_size(sigma: float, sigma_next: float) -> float:
    """The default rule of over-relaxed items: the exact reflection ``lr = 2``, and 1 on the last step (to 0)."""
    return 2.0 if sigma_next > 0 else 1.0


def _below(levels: list[float]) -> float:
    return OVERRELAXATION_BELOW * levels[0] * (1 + 1e-9)


def _overrelaxation(value, levels: list[float], step_size, momentum: float, restricted_encoding: bool) -> float:
    """The over-relaxation ``rho`` of noise-free items from the ``overrelaxation`` option."""
    if isinstance(value, str) and value == "auto":
        low = [s for s in levels if s <= _below(levels)]
        fine = all(b / a >= OVERRELAXATION_MIN_RATIO for a, b in zip(low, low[1:]))
        plain = isinstance(step_size, str) and step_size == "auto" and momentum == 0 and not restricted_encoding
        return OVERRELAXATION if fine and plain else 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not -1.0 < value < 1.0:
        raise ValueError(f"overrelaxation: expected 'auto' or a float in (-1, 1), got {value!r}")
    return float(value)


@torch.no_grad()
def sample_projdiff(
    denoise: Callable[[torch.Tensor, float], torch.Tensor],
    problem: Problem,
    sigmas: torch.Tensor,
    draw: Callable[[], torch.Tensor],
    *,
    step_size: float | str | Callable[[float, float], float] = "auto",
    inner_steps: int = 1,
    momentum: float = 0.0,
    bridge: str = "stochastic",
    restricted_encoding: bool = False,
    overrelaxation: float | str = "auto",
    per_mode: bool | None = None,
    init: torch.Tensor | None = None,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Run ProjDiff and return the final ``x0`` of shape (K, B, *input_shape).

    Parameters
    ----------
    denoise : callable
        ``D(x, sigma)`` on tensors of shape (K, B, *input_shape); ``sigma`` a float.
    problem : Problem
        Operator, measurements and their noise levels.
    sigmas : tensor of shape (steps,)
        Descending noise levels; the initial estimate is ``D(sigmas[0] z, sigmas[0])``.
    draw : callable
        Returns fresh standard normal noise of shape (K, B, *input_shape).
    step_size : "auto", float or callable, default "auto"
        ``lr`` scaling the update ``D - x0``: a constant, a function ``(sigma, sigma_next) -> lr``,
        or ``"auto"``, the default rule :func:`auto_step_size`.
    inner_steps : int, default 1
        Updates per noise level, each with fresh noise. NFE = 1 + steps * inner_steps.
    momentum : float in [0, 1), default 0
        ``v <- momentum * v + (1 - momentum) * (D - x0)``.
    bridge : {"stochastic", "deterministic"}, default "stochastic"
        How ``x_t`` is drawn below the auxiliary noise level (see the module docstring).
    overrelaxation : "auto" or float in (-1, 1), default "auto"
        ``rho`` of the over-relaxed noise of noise-free items (``sigma_y = 0``): each update's
        noise is ``rho r + sqrt(1 - rho^2) eps``, with ``r = (x_t - x0') / sigma`` the residual of
        the previous update (0: fresh noise, the reference's choice), at the levels
        ``<= OVERRELAXATION_BELOW * sigmas[0]`` (the default schedule's fine levels, below 0.3
        ``sigma_data``). ``"auto"``: -0.8 (``OVERRELAXATION``) when ``step_size="auto"``,
        ``momentum=0``, no restricted encoding and each of those levels at least 0.8 of the
        previous one (100 default levels: yes; 30: no), else 0. With ``step_size="auto"``,
        over-relaxed levels use ``lr = 2`` (1 on the last step, to 0): :func:`reflection_step_size`.
        Noisy items always get fresh noise. See the module docstring.
    per_mode : bool or None, default None
        Per-mode auxiliary noise levels (``None``: whenever the operator has a spectral
        decomposition and ``sigma_y > 0``; see ``observation.py``).
    restricted_encoding : bool, default False
        Re-noise with ``(s'/s) z + sqrt(1 - (s'/s)^2) eps``, where ``z`` is the initial noise and
        ``s'`` the next level, instead of fresh noise alone (weak observations, e.g. generating
        missing audio stems).
    init : tensor of shape (B, *input_shape), optional
        Warm start: the first denoiser input is ``init + sigmas[0] z`` instead of ``sigmas[0] z``
        (as img2img in diffusers). Use it with a schedule that starts below the prior's
        ``sigma_max`` (``sigmas``): the lower the start, the more of ``init`` survives. For
        example a fast baseline's estimate, refined by the prior and the measurements.
    callback : callable, optional
        Called after every update with a dict: ``step``, ``inner``, ``sigma``, ``x_t``,
        ``denoised``, ``x0`` and ``x_a`` (input-space tensors of shape (K, B, *input_shape)).
    progress : bool
        Show a progress bar over noise levels.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum: expected a float in [0, 1), got {momentum}")
    if inner_steps < 1:
        raise ValueError(f"inner_steps: expected an int >= 1, got {inner_steps}")
    if bridge not in BRIDGES:
        raise ValueError(f"bridge: expected one of {BRIDGES}, got {bridge!r}")
    lr_of = _step_size_rule(step_size)
    levels = [float(s) for s in sigmas]
    rho = _overrelaxation(overrelaxation, levels, step_size, momentum, restricted_encoding)
    reflect_of = _step_size_rule(reflection_step_size) if isinstance(step_size, str) else lr_of
    space = build_mode_space(problem, per_mode)
    to, back, sigma_a = space.to_modes, space.from_modes, space.sigma_a
    exact = sigma_a == 0
    safe_sigma_a = torch.where(exact, torch.ones_like(sigma_a), sigma_a)
    steps = len(levels)

    z_init = draw()
    start = levels[0] * z_init
    if init is not None:
        if tuple(init.shape) != tuple(start.shape[1:]):
            raise ValueError(f"init: expected shape {tuple(start.shape[1:])} (B, *input_shape), "
                             f"got {tuple(init.shape)}")
        if not bool(torch.isfinite(init).all()):
            raise ValueError(f"init: expected finite values, got {int((~torch.isfinite(init)).sum())} NaN or Inf "
                             f"entries")
        start = start + init.to(start)
    x0 = to(denoise(start, levels[0]))
    xa = space.project(x0 + sigma_a * to(draw()))
    x0 = torch.where(exact, xa, x0)
    fixed = to(z_init) if restricted_encoding else None
    velocity = None
    # over-relaxed items: noise-free ones (every coordinate known exactly), shaped (1, B, 1, ..., 1)
    relaxed = (problem.sigma_y == 0).reshape(1, -1, *([1] * (x0.dim() - 2))) if rho != 0 else None
    below = _below(levels)
    residual = None
    for i in tqdm(range(steps), disable=not progress, desc="projdiff", unit="step"):
        sigma = levels[i]
        ahead = sigma >= sigma_a
        spread = (sigma**2 - sigma_a**2).clamp_min(0).sqrt()
        ratio = (sigma / safe_sigma_a).clamp(max=1.0)
        lr = lr_of(sigma, levels[i + 1] if i + 1 < steps else 0.0)
        active = relaxed is not None and sigma <= below
        if not active:
            residual = None
        if active:
            as_tensor = lambda v: torch.tensor(v, dtype=x0.real.dtype, device=x0.device)  # noqa: E731
            lr = torch.where(relaxed, as_tensor(reflect_of(sigma, levels[i + 1] if i + 1 < steps else 0.0)), as_tensor(lr))
        for n in range(inner_steps):
            eps = to(draw())
            if fixed is not None:
                keep = (levels[i + 1] if i + 1 < steps else 0.0) / sigma
                eps = keep * fixed + math.sqrt(1 - keep**2) * eps
            if residual is not None:
                eps = torch.where(relaxed, rho * residual + math.sqrt(1 - rho**2) * eps, eps)
            if bridge == "stochastic":
                behind = x0 + ratio**2 * (xa - x0) + sigma * (1 - ratio**2).sqrt() * eps
            else:
                behind = x0 + ratio * (xa - x0)
            xt = torch.where(ahead, xa + spread * eps, behind)
            denoised = denoise(back(xt), sigma)
            _check_finite(denoised, i, steps, sigma)
            direction = to(denoised) - x0
            velocity = direction if velocity is None else momentum * velocity + (1 - momentum) * direction
            x0 = x0 + lr * velocity
            xa = torch.where(ahead, space.project(x0 + sigma_a * to(draw())), xa)
            x0 = torch.where(exact, xa, x0)
            _check_finite(x0, i, steps, sigma)
            if active:
                residual = (xt - x0) / sigma
            if callback is not None:
                callback({"step": i, "inner": n, "sigma": sigma, "x_t": back(xt), "denoised": denoised,
                          "x0": back(x0), "x_a": back(xa)})
    return back(x0)
