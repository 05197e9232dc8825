"""The solvers compared by ``benchmarks/peers.py``, behind one signature.

A :class:`Method` runs ``(operator, prior, y, sigma_y, num_samples, seed, steps) -> (samples, nfe)``
with ``y``, ``sigma_y``, the prior and the samples (K, B, *input_shape) in the data units of the
problem, like a ``projdiff.testing.conformance`` solver that also reports its denoiser calls.

- ``ours(name)``: ``projdiff.solve(..., method=name)`` with its defaults (NFE: ``steps + 1`` for
  ProjDiff, ``steps`` for the baselines);
- ``theirs(name, units)``: deepinv's solver (``deepinv_solvers``) on the same prior and operator,
  in image units ``units(prior)`` (``deepinv_adapter.UnitMap``); the K samples of an input come from
  one batched call on the measurements repeated K times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

import projdiff

OURS = ("projdiff", "dps", "ddnm", "diffpir", "pigdm")


def _always(_operator) -> None:
    return None


@dataclass(frozen=True)
class Method:
    """A labelled solver.

    Attributes
    ----------
    label : str
        E.g. ``"ours: projdiff"`` or ``"deepinv: DDRM"``.
    run : callable
        ``(operator, prior, y, sigma_y, num_samples, seed, steps) -> (samples, nfe)``.
    not_applicable : callable
        ``operator -> reason or None``.
    """

    label: str
    run: Callable[..., tuple[torch.Tensor, int]]
    not_applicable: Callable[[object], str | None] = field(default=_always)

    def conformance_solver(self) -> Callable[..., torch.Tensor]:
        """The samples only: a ``projdiff.testing.conformance`` solver."""
        return lambda *args: self.run(*args)[0]


def ours(name: str, label: str | None = None, **options) -> Method:
    """projdiff's ``name`` method (``"projdiff"`` or a baseline) with ``options`` passed to ``solve``."""

    def run(operator, prior, y, sigma_y, num_samples, seed, steps):
        res = projdiff.solve(operator, prior, y, sigma_y=sigma_y, steps=steps, num_samples=num_samples, seed=seed,
                             method=name, progress=False, **options)
        return res.samples, res.nfe

    return Method(label or f"ours: {name}", run)


def theirs(name: str, units: Callable) -> Method:
    """deepinv's ``name`` (``deepinv_solvers.METHODS``); ``units(prior)`` gives the ``UnitMap`` to images."""
    from deepinv_adapter import PriorDenoiser
    from deepinv_solvers import not_applicable, sample

    def run(operator, prior, y, sigma_y, num_samples, seed, steps):
        to_image = units(prior)
        denoiser = PriorDenoiser(prior, to_image)
        y_img = to_image.measurement(operator, y)
        repeated = y_img.repeat(num_samples, *([1] * (y.dim() - 1)))
        x_img = sample(name, denoiser, operator, repeated, to_image.noise(sigma_y), steps, seed)
        return to_image.from_image(x_img).reshape(num_samples, *y.shape[:1], *operator.input_shape), denoiser.calls

    return Method(f"deepinv: {name}", run, lambda operator: not_applicable(name, operator))
