"""Per-item random streams: the randomness of input item ``i`` depends only on its own seed.

That is what makes a batch of B inputs give exactly the results of B single calls, and a sharded
job give the results of a single process.
"""

from __future__ import annotations

import secrets
from typing import Sequence

import torch


def item_seeds(seed: int | Sequence[int] | None, batch: int) -> list[int]:
    """One seed per input item.

    ``None`` draws a fresh base seed from the OS; an int ``s`` gives items ``s, s+1, ...`` (so item
    ``i`` of a batch equals a single call with ``seed=s+i``); a sequence gives one seed per item.
    """
    if seed is None:
        seed = secrets.randbits(62)
    if isinstance(seed, (int,)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed}")
        return [seed + i for i in range(batch)]
    seeds = [int(s) for s in seed]
    if len(seeds) != batch:
        raise ValueError(f"seed: expected an int or {batch} seeds (one per item of y), got {len(seeds)}")
    return seeds


class NoiseSource:
    """Draws standard normal tensors of shape (K, B, *shape) from B independent generators.

    Parameters
    ----------
    seeds : list of int
        One per input item (B of them).
    num_samples : int
        K, the number of samples per item.
    """

    def __init__(self, seeds: list[int], num_samples: int, shape: tuple[int, ...], dtype: torch.dtype,
                 device: torch.device):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.num_samples = num_samples
        self.shape = tuple(shape)
        self.dtype = dtype
        self.device = device

    def draw(self) -> torch.Tensor:
        """A fresh (K, B, *shape) standard normal tensor."""
        parts = [torch.randn((self.num_samples, *self.shape), generator=g, dtype=self.dtype)
                 for g in self.generators]
        return torch.stack(parts, dim=1).to(self.device)
