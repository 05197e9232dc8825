"""Named training recipes: model architecture, noise schedule and data, as plain data.

A preset makes ``projdiff train --preset NAME`` reproducible from the command line alone; the
model card written at the end records the preset, the command and the measured figures.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class TrainingPreset:
    """A recipe: ``unet`` and ``scheduler`` are diffusers config dicts, ``data`` builds the sets.

    ``data(seed)`` returns ``(train_dataset, validation_tensor, description)``.
    """

    name: str
    unet_class: str
    unet: dict
    scheduler: dict
    data: Callable[[int], tuple]
    summary: str
    defaults: dict = field(default_factory=dict)


def _fashion_mnist_data(seed: int):
    from projdiff.data import FashionMNIST

    train = FashionMNIST("train", indices=slice(0, 55000))
    validation = FashionMNIST("train", indices=slice(55000, 56000)).images
    text = ("Fashion-MNIST (Debian dataset-fashion-mnist, MIT), train split images 0..54999 for training, "
            "images 55000..55999 held out for the denoising loss; the 10,000 test images are never used in "
            "training. 28x28 padded with background to 32x32, scaled to [-1, 1].")
    return train, validation, text


DDPM_LINEAR = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear",
               "prediction_type": "epsilon", "clip_sample": False}

PRESETS: dict[str, TrainingPreset] = {
    "fashion-mnist-32": TrainingPreset(
        name="fashion-mnist-32",
        unet_class="UNet2DModel",
        unet={"sample_size": 32, "in_channels": 1, "out_channels": 1, "layers_per_block": 2,
              "block_out_channels": [32, 64, 64], "norm_num_groups": 8,
              "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
              "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]},
        scheduler=DDPM_LINEAR,
        data=_fashion_mnist_data,
        summary="1.6 M-parameter UNet2DModel (widths 32-64-64, attention at 8x8), grayscale 32x32",
        defaults={"batch_size": 64, "learning_rate": 5e-4},
    ),
}


def build_preset(name: str, seed: int = 0):
    """Instantiate a preset: returns ``(unet, scheduler, train_dataset, validation, data_text)``."""
    import diffusers

    if name not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {name!r}")
    preset = PRESETS[name]
    with torch.random.fork_rng():  # diffusers initialises weights from the global generator
        torch.manual_seed(seed)
        unet = getattr(diffusers, preset.unet_class)(**preset.unet)
    scheduler = diffusers.DDPMScheduler(**preset.scheduler)
    train, validation, text = preset.data(seed)
    return unet, scheduler, train, validation, text


def model_card(preset: TrainingPreset, data_text: str, command: str, n_params: int) -> Callable[[dict], str]:
    """Return a function that renders the model card from the training summary."""

    def render(summary: dict) -> str:
        cfg = summary["config"]
        hours = summary["wall_seconds"] / 3600
        return f"""# projdiff prior `{preset.name}`

{preset.summary}; {n_params:,} parameters; DDPM noise schedule (linear betas 1e-4..0.02, 1000 steps,
epsilon prediction). Weights are the EMA (decay {cfg['ema_decay']}) of the training weights.

## Data
{data_text}

## Training
- Command: `{command}`
- Steps: {summary['step']} at global batch {cfg['batch_size']}, AdamW lr {cfg['learning_rate']} after {cfg['warmup_steps']} warm-up steps, seed {cfg['seed']}
- Wall time: {summary['wall_seconds']:.0f} s ({hours:.2f} h) on {platform.machine()} `{platform.processor() or 'cpu'}`, torch {torch.__version__}, Python {sys.version.split()[0]}
- Held-out denoising loss (EMA weights, MSE of the epsilon prediction at uniform random times, fixed noise): {summary['heldout_loss']:.5f}

## Use
```python
import projdiff
prior = projdiff.load_prior("bundled:{preset.name}")
```
"""

    return render
