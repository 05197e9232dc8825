"""UNet architectures as data: a name, a diffusers class and its keyword arguments.

Sizes (sample size, input and output channels) come from the recipe; an architecture fixes the rest.
Applications may define their own (the audio application defines 1D ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Architecture:
    """A diffusers UNet architecture.

    Parameters
    ----------
    name : str
        What ``--model`` calls it and the model card names.
    config : dict
        Keyword arguments of the diffusers class, without ``sample_size``, ``in_channels`` and
        ``out_channels``.
    unet_class : str, default "UNet2DModel"
        ``"UNet2DModel"`` (items (C, H, W)) or ``"UNet1DModel"`` (items (C, L)).
    """

    name: str
    config: dict = field(hash=False)
    unet_class: str = "UNet2DModel"

    @property
    def spatial_dims(self) -> int:
        """Spatial dimensions of an item: 2 for ``UNet2DModel``, 1 for ``UNet1DModel``."""
        return 1 if self.unet_class == "UNet1DModel" else 2

    def build(self, channels: int, condition_channels: int, sample_size: int, seed: int = 0):
        """A freshly initialised UNet: ``channels + condition_channels`` inputs, ``channels`` outputs."""
        import diffusers

        config = {**self.config, "sample_size": sample_size, "in_channels": channels + condition_channels,
                  "out_channels": channels}
        with torch.random.fork_rng():  # diffusers initialises weights from the global generator
            torch.manual_seed(seed)
            return getattr(diffusers, self.unet_class)(**config)


# 1.6 M parameters at 1 channel; attention at the lowest resolution only.
SMALL = Architecture("small", {
    "layers_per_block": 2, "block_out_channels": [32, 64, 64], "norm_num_groups": 8,
    "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]})

# For tests and smoke runs.
TINY = Architecture("tiny", {
    "layers_per_block": 1, "block_out_channels": [8, 16], "norm_num_groups": 4,
    "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]})

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (SMALL, TINY)}
