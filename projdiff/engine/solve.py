"""``projdiff.solve``: validate the inputs, set up randomness and noise levels, run a method."""

from __future__ import annotations

import inspect
import time
from typing import Callable, Sequence

import torch

from projdiff.engine.ddnm import sample_ddnm
from projdiff.engine.diffpir import sample_diffpir
from projdiff.engine.dps import sample_dps
from projdiff.engine.noise import NoiseSource, item_seeds
from projdiff.engine.observation import Problem
from projdiff.engine.pigdm import sample_pigdm
from projdiff.engine.projdiff_sampler import sample_projdiff
from projdiff.engine.result import SolveResult
from projdiff.engine.schedules import karras_sigmas, projdiff_sigmas

METHODS: dict[str, Callable] = {"projdiff": sample_projdiff, "dps": sample_dps, "ddnm": sample_ddnm,
                                 "diffpir": sample_diffpir, "pigdm": sample_pigdm}
"""Solvers by name. Each is a function ``(denoise, problem, sigmas, draw, *, callback, progress,
**options) -> samples`` of shape (K, B, *input_shape); see ``sample_projdiff``."""

_ENGINE_ARGS = {"denoise", "problem", "sigmas", "draw", "callback", "progress"}


def default_sigmas(prior, steps: int, method: str = "projdiff") -> torch.Tensor:
    """The default noise levels of ``method``.

    ProjDiff: ``projdiff_sigmas`` (geometric, from ``4 * prior.sigma_data``); the baselines, which
    start from pure noise: a Karras (rho = 7) schedule over the prior's sigma range.
    """
    if method == "projdiff":
        sigma_data = getattr(prior, "sigma_data", None)
        return projdiff_sigmas(steps, float(prior.sigma_min), float(prior.sigma_max), sigma_data)
    return karras_sigmas(steps, float(prior.sigma_min), float(prior.sigma_max))


def _method_options(method: str) -> dict[str, inspect.Parameter]:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    params = inspect.signature(METHODS[method]).parameters
    return {k: p for k, p in params.items() if k not in _ENGINE_ARGS}


def _check_prior_parameters(prior) -> None:
    """``ValueError`` naming the first of the prior's parameters or buffers with NaN or Inf entries."""
    if not isinstance(prior, torch.nn.Module):
        return
    for name, tensor in [*prior.named_parameters(), *prior.named_buffers()]:
        if tensor.is_floating_point() or tensor.is_complex():
            bad = int((~torch.isfinite(tensor.detach())).sum())
            if bad:
                raise ValueError(f"prior: parameter {name!r} has {bad} NaN or Inf entries; the prior is broken "
                                 f"(a diverged training run or a corrupt checkpoint?)")


def _check_inputs(operator, prior, y: torch.Tensor, sigma_y, steps: int, num_samples: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y: expected a torch.Tensor of shape (B, *operator.output_shape), got {type(y).__name__}")
    out_shape = tuple(operator.output_shape)
    if y.dim() != len(out_shape) + 1 or tuple(y.shape[1:]) != out_shape:
        raise ValueError(f"y: expected shape (B, {', '.join(map(str, out_shape))}) for {type(operator).__name__}, "
                         f"got {tuple(y.shape)}")
    if not y.is_floating_point():
        raise TypeError(f"y: expected a floating-point tensor, got dtype {y.dtype}")
    bad = (~torch.isfinite(y)).sum().item()
    if bad:
        raise ValueError(f"y: expected finite values, got {bad} NaN or Inf entries")
    if hasattr(prior, "check_shape"):
        prior.check_shape(tuple(operator.input_shape))
    _check_prior_parameters(prior)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: expected an int >= 1, got {num_samples!r}")
    sigma = torch.as_tensor(sigma_y, dtype=y.dtype, device=y.device)
    if sigma.dim() == 0:
        sigma = sigma.expand(y.shape[0])
    if sigma.shape != (y.shape[0],):
        raise ValueError(f"sigma_y: expected a float or a tensor of shape ({y.shape[0]},), got shape {tuple(sigma.shape)}")
    if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
        raise ValueError(f"sigma_y: expected finite values >= 0, got {sigma_y}")
    return sigma.contiguous()


def solve(
    operator,
    prior,
    y: torch.Tensor,
    *,
    sigma_y: float | torch.Tensor = 0.0,
    steps: int | None = None,
    num_samples: int = 1,
    seed: int | Sequence[int] | None = None,
    method: str = "projdiff",
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    **options,
) -> SolveResult:
    """Sample from the posterior of ``x`` given ``y = A(x) + sigma_y n`` under a diffusion prior.

    Parameters
    ----------
    operator : Operator
        Forward model ``A`` from ``projdiff.operators`` or your own (``LinearOperator``,
        ``NonlinearOperator``). Inputs have shape ``operator.input_shape``.
    prior : Prior
        Denoiser ``D(x, sigma)`` with ``sigma_min``/``sigma_max``; data space = the space of ``y``.
    y : tensor of shape (B, *operator.output_shape)
        Measurements, in the prior's data space, finite.
    sigma_y : float or tensor of shape (B,), default 0
        Standard deviation of the Gaussian measurement noise, in the units of ``y``.
    steps : int, optional
        Noise levels visited (denoiser calls per sample = ``1 + steps * inner_steps``). Default:
        ``len(sigmas)`` when ``sigmas`` is given (as in k-diffusion, a schedule is its own step
        count), else 100.
    num_samples : int, default 1
        Posterior samples per input; ``result.x`` is their mean and ``result.std`` their spread.
    seed : int, sequence of B ints, or None
        Item ``i`` uses ``seed + i`` (or ``seed[i]``); the same call with the same seed gives the
        same result bit for bit on the CPU. Item ``i`` of a batch draws exactly the random numbers
        of a separate call with its seed, and the results agree to floating-point rounding, not
        bit for bit: the prior and the operators may round a batch differently (measured: up to
        1e-6 with the bundled image prior in float32 at 50 steps, 2e-14 with Gaussian priors in
        float64).
    method : {"projdiff", "dps", "ddnm", "diffpir", "pigdm"}, default "projdiff"
        ProjDiff, or one of the baselines (each in its own module of ``projdiff.engine``, with the
        source of its constants).
    progress : bool, default True
        Progress bar over the noise levels.
    callback : callable, optional
        Receives a dict of intermediates after every update (see ``sample_projdiff``).
    **options
        ``sigmas`` (explicit descending noise levels, one per step; default ``default_sigmas``:
        for ProjDiff geometric from ``4 * prior.sigma_data``, for the baselines Karras over the
        prior's range) for every method, and the method's own options; for ProjDiff
        ``step_size``, ``inner_steps``, ``momentum``, ``bridge``, ``restricted_encoding``,
        ``overrelaxation`` (noise-free items; ``"auto"`` acts only for priors with an exact denoiser,
        ``prior.exact``), ``per_mode`` and ``init`` (see ``sample_projdiff``; default
        ``prior.data_center``: ProjDiff's first level is far below ``sigma_max``, so its start must be
        centred where the data is).

    Returns
    -------
    SolveResult

    Examples
    --------
    >>> import torch, projdiff
    >>> from projdiff.operators import Inpainting
    >>> from projdiff.priors import GaussianPrior
    >>> prior = GaussianPrior(torch.zeros(8), torch.eye(8))
    >>> op = Inpainting(torch.tensor([1., 0, 1, 0, 1, 0, 1, 0]))
    >>> y = op(torch.ones(1, 8))
    >>> result = projdiff.solve(op, prior, y, steps=10, seed=0, progress=False)
    >>> result.x.shape, result.nfe
    (torch.Size([1, 8]), 11)
    """
    sigmas = options.pop("sigmas", None)
    if steps is None:
        steps = 100 if sigmas is None else len(torch.as_tensor(sigmas).flatten())
    sigma = _check_inputs(operator, prior, y, sigma_y, steps, num_samples)
    allowed = _method_options(method)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"options: {', '.join(unknown)} not understood by method {method!r}; "
                        f"expected some of {sorted(set(allowed) | {'sigmas'})}")
    if sigmas is None:
        sigmas = default_sigmas(prior, steps, method)
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if not bool(torch.isfinite(sigmas).all()):
        raise ValueError(f"sigmas: expected finite noise levels, got {int((~torch.isfinite(sigmas)).sum())} "
                         f"NaN or Inf values")
    if sigmas.numel() != steps or bool((sigmas <= 0).any()) or bool((sigmas[1:] > sigmas[:-1]).any()):
        raise ValueError(f"sigmas: expected {steps} positive, descending noise levels (one per step), "
                         f"got {sigmas.numel()} values")

    started = time.perf_counter()
    seeds = item_seeds(seed, y.shape[0])
    source = NoiseSource(seeds, num_samples, tuple(operator.input_shape), y.dtype, y.device)
    problem = Problem(operator, y, sigma)
    calls = [0]

    def denoise(x: torch.Tensor, level: float) -> torch.Tensor:
        """The prior on (K, B, *shape) tensors; differentiable when a method needs it (DPS)."""
        calls[0] += 1
        flat = x.reshape(-1, *x.shape[2:])
        out = prior.denoise(flat, torch.full((flat.shape[0],), level, dtype=x.dtype, device=x.device))
        return out.reshape(x.shape)

    if method == "projdiff" and isinstance(options.get("overrelaxation", "auto"), str) \
            and options.get("overrelaxation", "auto") == "auto" and not getattr(prior, "exact", False):
        options["overrelaxation"] = 0.0  # the reflection (lr = 2) amplifies a learned denoiser's errors
    if method == "projdiff" and options.get("init") is None:  # start where the data is centred
        center = torch.as_tensor(getattr(prior, "data_center", 0.0), dtype=y.dtype, device=y.device)
        if bool((center != 0).any()):
            options["init"] = center.expand(y.shape[0], *operator.input_shape)
    samples = METHODS[method](denoise, problem, sigmas, source.draw, callback=callback, progress=progress,
                              **options)
    samples = samples.detach()
    mean = samples.mean(dim=0)
    std = samples.std(dim=0) if num_samples > 1 else None
    return SolveResult(x=mean, samples=samples, std=std, nfe=calls[0], seconds=time.perf_counter() - started,
                       seeds=seeds)
