"""Inpainting that also observes the mean of a region: how a lesion's type reaches the sampler.

``MeanInpainting(observed, region)`` measures ``y = observed * x + region * mean_region(x)``: the
observed voxels exactly, and on every voxel of ``region`` (unobserved voxels, e.g. a lesion) the
region's mean. As a matrix it is symmetric and idempotent (an orthogonal projector: the identity on
the observed voxels, ``1 1^T / n`` on the region), so ``adjoint = pinv = forward`` and the
projection onto ``{A x = y}`` keeps ``x``'s unobserved voxels, sets the observed ones from ``y`` and
shifts the region so that its mean is ``y``'s. ProjDiff samples with it stay a posterior sample of
the prior's texture and edges, with the lesion's mean held at the requested HU.
"""

from __future__ import annotations

import torch

from projdiff.operators import LinearOperator


class MeanInpainting(LinearOperator):
    """Observe ``observed`` voxels and the mean of ``region`` (two disjoint 0/1 masks of one item's shape).

    An empty ``region`` makes it plain inpainting. Buffers: ``mask`` (the observed voxels, as
    ``Inpainting.mask``) and ``region``.
    """

    def __init__(self, observed: torch.Tensor, region: torch.Tensor):
        observed, region = torch.as_tensor(observed).float(), torch.as_tensor(region).float()
        if observed.shape != region.shape:
            raise ValueError(f"mean inpainting: masks of shapes {tuple(observed.shape)} and {tuple(region.shape)}")
        if bool((observed * region).any()):
            raise ValueError("mean inpainting: the region must not overlap the observed voxels")
        super().__init__(input_shape=tuple(observed.shape))
        self.register_buffer("mask", observed.contiguous())
        self.register_buffer("region", region.contiguous())
        self._output_shape = tuple(observed.shape)

    def _region_mean(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(x.dim() - len(self.input_shape), x.dim()))
        region = self.region.to(x)
        return (x * region).sum(dims, keepdim=True) / region.sum().clamp(min=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``observed * x + region * mean_region(x)``: shape ``(*batch, *input_shape)`` to the same."""
        self.batch_shape(x)
        return x * self.mask.to(x) + self.region.to(x) * self._region_mean(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Equal to ``forward`` (the operator is symmetric)."""
        return self.forward(y)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Equal to ``forward`` (an orthogonal projector is its own pseudo-inverse)."""
        return self.forward(y)

    def gram_solve(self, v: torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
        """``(A A^T + shift I)^-1 v`` on the measurements' range (``A v / (1 + shift)``)."""
        return self.forward(v) / (1.0 + shift)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x - A x + A y``: the observed voxels from ``y``, the region shifted to ``y``'s mean."""
        return x - self.forward(x) + self.forward(y)

    def noise_gain(self) -> float:
        """1.0, as for plain inpainting."""
        return 1.0
