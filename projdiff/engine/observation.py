"""The observation as ProjDiff sees it: a coordinate system, per-coordinate noise levels and a projection.

ProjDiff turns a noisy measurement ``y = A x0 + sigma_y n`` of ``x0`` into a noise-free
measurement ``A x_a = y`` of an auxiliary variable ``x_a = x0 + sigma_a eps`` that lies on the
same diffusion path as ``x0``. Two ways to pick ``sigma_a``:

- scalar: ``sigma_a = operator.equivalent_noise(sigma_y)`` for every coordinate of ``x``
  (exact when the rows of ``A`` are a tight frame, ``A A^T = c I``: ``sigma_a = sigma_y / sqrt(c)``);
  the projection is ``operator.project``. Noise-free problems (``sigma_a = 0``, exact for any
  linear ``A``), tight operators and nonlinear operators take this path.
- per mode: for an operator with a spectral decomposition ``A = U diag(s) V^T``, coordinates are
  ``V^T x`` and mode ``i`` gets ``sigma_a,i = sigma_y / s_i``; unobserved modes (``s_i = 0``) get 0
  (``x_a`` equals the estimate there). The projection overwrites the observed modes with
  ``V^T A^+ y``. Noisy problems take this path whenever the operator has ``spectral()`` (a
  linear operator that is not tight has one up to ``DENSE_SPECTRAL_LIMIT`` input entries); a
  noisy linear operator that is neither tight nor decomposed is refused unless the caller asks
  for the scalar path (``per_mode=False``).

Tensors inside the solver have shape ``(K, B, *mode_shape)``: K samples of B inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass
class Problem:
    """What every solver method receives besides the denoiser: the operator and the measurements.

    Attributes
    ----------
    operator : Operator
    y : tensor of shape (B, *operator.output_shape)
    sigma_y : tensor of shape (B,)
        Measurement noise level of each item (0 for noise-free items).
    """

    operator: Any
    y: torch.Tensor
    sigma_y: torch.Tensor

    def noise_column(self, space: str = "input") -> torch.Tensor:
        """``sigma_y`` shaped (1, B, 1, ..., 1) to broadcast against (K, B, *input_shape), or
        against (K, B, *output_shape) when ``space="output"``."""
        shape = self.operator.input_shape if space == "input" else self.operator.output_shape
        return _per_item(self.sigma_y, len(shape))

    def equivalent_noise_column(self) -> torch.Tensor:
        """``operator.equivalent_noise(sigma_y)`` per item, shaped like ``noise_column``."""
        if not bool((self.sigma_y > 0).any()):
            return torch.zeros_like(self.noise_column())
        self.require("equivalent_noise", method="this method with sigma_y > 0")
        value = torch.as_tensor(self.operator.equivalent_noise(self.sigma_y), dtype=self.sigma_y.dtype,
                                device=self.sigma_y.device)
        return _per_item(value.expand_as(self.sigma_y), len(self.operator.input_shape))

    def require(self, *methods: str, method: str) -> None:
        """Raise ``TypeError`` when the operator lacks one of ``methods`` that ``method`` needs."""
        missing = [m for m in methods if not callable(getattr(self.operator, m, None))]
        if missing:
            raise TypeError(f"operator: method {method!r} needs {', '.join(missing)}(); "
                            f"{type(self.operator).__name__} has none")


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass
class ModeSpace:
    """Coordinates in which ProjDiff runs, with the auxiliary noise level of each coordinate.

    Attributes
    ----------
    to_modes, from_modes : callable
        ``x -> z`` and back (identity on the scalar path).
    sigma_a : tensor broadcastable to (K, B, *mode_shape)
        Equivalent noise level of each coordinate, >= 0 (0: the coordinate is known exactly, or
        unobserved on the per-mode path).
    project : callable
        ``z -> z'`` with ``A from_modes(z') = y`` (approximately, for nonlinear operators).
    """

    to_modes: Callable[[torch.Tensor], torch.Tensor]
    from_modes: Callable[[torch.Tensor], torch.Tensor]
    sigma_a: torch.Tensor
    project: Callable[[torch.Tensor], torch.Tensor]


def _per_item(sigma_y: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Shape a per-item (B,) noise level as (1, B, 1, ..., 1) to broadcast over (K, B, *event)."""
    return sigma_y.reshape(1, -1, *([1] * event_dims))


def build_mode_space(problem: Problem, per_mode: bool | None) -> ModeSpace:
    """Choose the scalar or the per-mode path (see the module docstring).

    Parameters
    ----------
    problem : Problem
    per_mode : bool or None
        ``None`` (default) takes the per-mode path whenever some item is noisy and the operator
        has a spectral decomposition, and refuses a noisy linear operator that is neither
        ``tight`` nor decomposed (its one equivalent noise level would be wrong for most
        directions); ``False`` forces the scalar path; ``True`` requires the per-mode path.

    Raises
    ------
    TypeError
        ``per_mode=True`` for an operator without ``spectral()``.
    ValueError
        A noisy problem whose operator is linear, not ``tight`` and without a spectral
        decomposition, unless ``per_mode=False``.
    """
    problem.require("project", method="projdiff")
    operator, y, sigma_y = problem.operator, problem.y, problem.sigma_y
    noisy = bool((sigma_y > 0).any())
    wanted = per_mode or (noisy and per_mode is None)
    spectral = operator.spectral() if wanted and hasattr(operator, "spectral") else None
    if per_mode and spectral is None:
        raise TypeError(f"per_mode=True needs an operator with spectral(); {type(operator).__name__} has none")
    if noisy and per_mode is None and spectral is None and getattr(operator, "linear", False) \
            and not getattr(operator, "tight", True):
        raise ValueError(
            f"operator: {type(operator).__name__} is linear but not a tight frame and has no spectral "
            f"decomposition (input of {math.prod(operator.input_shape)} entries), so noisy measurements cannot be "
            f"turned into per-mode noise levels; give it frame_constant=c if A A^T = c I, a spectral() method, or "
            f"pass per_mode=False to accept one average noise level (miscalibrated unless the singular values "
            f"are equal)")
    if spectral is not None and noisy and per_mode is not False:
        s = spectral.singular_values.to(device=y.device, dtype=y.real.dtype)
        observed = s > 0
        sigma = _per_item(sigma_y, s.dim())
        sigma_a = torch.where(observed, sigma / torch.where(observed, s, torch.ones_like(s)), torch.zeros_like(s))
        target = spectral.to_modes(operator.pinv(y))

        def project(z: torch.Tensor) -> torch.Tensor:
            return torch.where(observed, target, z)

        return ModeSpace(spectral.to_modes, spectral.from_modes, sigma_a, project)

    sigma_a = problem.equivalent_noise_column()

    def project(z: torch.Tensor) -> torch.Tensor:
        return operator.project(z, y)

    return ModeSpace(_identity, _identity, sigma_a, project)
