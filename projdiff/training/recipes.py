"""What to train, as data: an architecture, a data source, the item shape and the optimiser settings.

The trainer (``trainer.train``) knows no application: applications define data sources and named
recipes (presets) in their own folders, and ``projdiff train`` runs any of them.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch
from torch.utils.data import Dataset

from projdiff.training.architectures import Architecture

DDPM_LINEAR = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear",
               "prediction_type": "epsilon", "clip_sample": False}


@dataclass
class TrainingData:
    """What a data source gives the trainer.

    Attributes
    ----------
    train : Dataset
        Items of the recipe's shape (plus condition channels last), in the prior's data space.
    validation : tensor of shape (N, C + condition channels, ...)
        Fixed held-out items for the denoising loss.
    description : str
        The model card's "Data" paragraph.
    metadata : dict
        Saved in the prior's ``projdiff.json`` for the application that uses it (may be empty).
    """

    train: Dataset
    validation: torch.Tensor
    description: str
    metadata: dict = field(default_factory=dict)


class DataSource(Protocol):
    """Training data of one kind (Fashion-MNIST, an image folder, chorale stems, lesion crops...)."""

    def load(self, recipe: "Recipe", seed: int) -> TrainingData:
        """The data for ``recipe``; ``ValueError`` naming ``--data`` when the recipe does not fit it."""
        ...


@dataclass(frozen=True)
class Recipe:
    """What to train.

    Parameters
    ----------
    architecture : Architecture
    data : DataSource
    shape : tuple of int
        One item without its condition: ``(C, H, W)`` for 2D architectures (square crops) and
        ``(C, L)`` for 1D ones.
    condition_channels : int, default 0
        > 0 makes a conditional UNet (input = C + condition channels).
    batch_size : int, default 64
    learning_rate : float, default 5e-4
    """

    architecture: Architecture
    data: DataSource
    shape: tuple[int, ...] = (1, 32, 32)
    condition_channels: int = 0
    batch_size: int = 64
    learning_rate: float = 5e-4

    def __post_init__(self) -> None:
        dims = self.architecture.spatial_dims
        if len(self.shape) != 1 + dims or (dims == 2 and self.shape[1] != self.shape[2]):
            expected = "(C, S, S)" if dims == 2 else "(C, L)"
            raise ValueError(f"recipe shape: expected {expected} for the {self.architecture.unet_class} "
                             f"`{self.architecture.name}`, got {self.shape}")

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        """Side of the square training crops (2D) or segment length in samples (1D)."""
        return self.shape[-1]


def build_model(recipe: Recipe, seed: int = 0):
    """A freshly initialised UNet of the recipe and its ``DDPMScheduler`` (linear betas)."""
    import diffusers

    unet = recipe.architecture.build(recipe.channels, recipe.condition_channels, recipe.size, seed)
    return unet, diffusers.DDPMScheduler(**DDPM_LINEAR)


def legs_table(legs: list[dict]) -> str:
    """The model card's record of the training legs (runs between resumptions, possibly on other machines)."""
    rows = "".join(f"| {i} | {leg['from_step']} -> {leg['to_step']} | {leg['seconds'] / 60:.1f} | {leg['hardware']} "
                   f"| {leg['started']} |\n" for i, leg in enumerate(legs, 1))
    return ("### Legs\n| leg | steps | minutes | hardware | started |\n|---|---|---|---|---|\n" + rows) if legs else ""


def model_card(name: str, recipe: Recipe, data_text: str, command: str, n_params: int) -> Callable[[dict], str]:
    """A function that renders the model card (Markdown) from the training summary."""

    def render(summary: dict) -> str:
        cfg = summary["config"]
        arch = recipe.architecture
        widths = "-".join(str(w) for w in arch.config["block_out_channels"])
        attention = ("attention at the lowest resolutions" if any("Attn" in b for b in arch.config["down_block_types"])
                     else "no attention")
        shape = (f"{recipe.channels} channel(s), {recipe.size}-sample segments" if arch.spatial_dims == 1 else
                 f"{recipe.channels} channel(s), trained at {recipe.size}x{recipe.size}")
        if recipe.condition_channels:
            shape += f", conditioned on {recipe.condition_channels} extra input channels"
        legs = summary.get("legs", [])
        trained_at = ("" if cfg.get("sigma_range") is None else
                      ", trained only at sigma {:g}..{:g} in data units".format(*cfg["sigma_range"]))
        levels = ("uniform random time steps" if cfg.get("sigma_range") is None else
                  "random time steps with log sigma uniform over {:g}..{:g}, the noise levels it was trained "
                  "at".format(*cfg["sigma_range"]))
        return f"""# projdiff prior `{name}`

{arch.unet_class} `{arch.name}` (block widths {widths}, {attention}), {shape};
{n_params:,} parameters. DDPM noise schedule (linear betas 1e-4..0.02, 1000 steps, epsilon prediction){trained_at}. The weights
are the EMA (decay {cfg['ema_decay']}) of the training weights.

## Data
{data_text}

## Training
- Command: `{command}`
- Steps: {summary['step']} at global batch {cfg['batch_size']}; AdamW, learning rate {cfg['learning_rate']} after {cfg['warmup_steps']} warm-up steps; seed {cfg['seed']}
- Wall time: {summary['wall_seconds']:.0f} s ({summary['wall_seconds'] / 3600:.2f} h) in {len(legs)} leg(s); last leg on {platform.machine()} ({summary['hardware']}), torch {torch.__version__}, Python {sys.version.split()[0]}
- Held-out denoising loss (EMA weights; MSE of the epsilon prediction at {levels} with fixed noise, on the held-out data above): {summary['heldout_loss']:.5f}

{legs_table(legs)}
## Use
```python
import projdiff
prior = projdiff.load_prior("path/to/this/folder")   # or "bundled:{name}" for a bundled prior
```
"""

    return render
