"""Training recipes as plain data: UNet architectures, data sources and named presets.

``projdiff train --preset fashion-mnist-32`` reproduces the bundled prior; ``--data`` trains the same
architectures on other data:

- ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` (train images 0..54,999; 55,000..55,999 are held
  out for the validation loss), 32x32 grayscale;
- ``folder:PATH``: images in a folder (PNG/JPEG/TIFF of any size), resized so the short side is the
  training size, random square crops; the last tenth of the files (sorted by name, at least one) is
  held out for the validation loss;
- ``patches:PATH``: random patches of the images in a folder at their native resolution (the same
  hold-out rule).
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

DDPM_LINEAR = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear",
               "prediction_type": "epsilon", "clip_sample": False}

MODELS: dict[str, dict] = {
    # 1.6 M parameters at 1 channel; attention at the lowest resolution only.
    "small": {"layers_per_block": 2, "block_out_channels": [32, 64, 64], "norm_num_groups": 8,
              "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
              "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]},
    # For tests and smoke runs.
    "tiny": {"layers_per_block": 1, "block_out_channels": [8, 16], "norm_num_groups": 4,
             "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]},
}


@dataclass(frozen=True)
class Recipe:
    """What to train: architecture name, data source, image size and channels."""

    model: str = "small"
    data: str = "fashion-mnist"
    image_size: int = 32
    channels: int = 1
    batch_size: int = 64
    learning_rate: float = 5e-4


PRESETS: dict[str, Recipe] = {"fashion-mnist-32": Recipe()}


def _split_files(folder: Path) -> tuple[list[Path], list[Path]]:
    from projdiff.data.images import IMAGE_SUFFIXES

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise ValueError(f"--data {folder}: expected at least 2 images (one is held out), found {len(files)}")
    held = max(1, len(files) // 10)
    return files[:-held], files[-held:]


def build_data(recipe: Recipe, seed: int = 0):
    """Returns ``(train_dataset, validation_tensor (N, C, H, W), description)``."""
    from projdiff.data import FashionMNIST, ImageFolderDataset, RandomPatchDataset

    if recipe.data == "fashion-mnist":
        if (recipe.image_size, recipe.channels) != (32, 1):
            raise ValueError("--data fashion-mnist: images are 32x32 grayscale (--image-size 32 --channels 1)")
        text = ("Fashion-MNIST (Debian dataset-fashion-mnist, MIT), train split images 0..54999 for training, "
                "images 55000..55999 held out for the denoising loss; the 10,000 test images are never used in "
                "training. 28x28 padded with background to 32x32, scaled to [-1, 1].")
        return (FashionMNIST("train", indices=slice(0, 55000)),
                FashionMNIST("train", indices=slice(55000, 56000)).images, text)
    kind, _, path = recipe.data.partition(":")
    if kind not in ("folder", "patches") or not path:
        raise ValueError(f"--data: expected fashion-mnist, folder:PATH or patches:PATH, got {recipe.data!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"--data {folder}: no such folder")
    train_files, held_files = _split_files(folder)
    size, channels = recipe.image_size, recipe.channels
    if kind == "folder":
        train = ImageFolderDataset(train_files, size, channels, seed=seed)
        held = ImageFolderDataset(held_files, size, channels, length=256, seed=seed + 1)
    else:
        from projdiff.tasks.image_io import read_image

        def load(files):
            return [read_image(f) for f in files]

        train = RandomPatchDataset(load(train_files), size, channels, seed=seed)
        held = RandomPatchDataset(load(held_files), size, channels, length=256, seed=seed + 1)
    validation = torch.stack([held[i] for i in range(len(held))])
    text = (f"{len(train_files)} images from {folder} ({'random crops after resizing' if kind == 'folder' else 'random patches'}"
            f" of {size}x{size}, {channels} channel(s), scaled to [-1, 1]); {len(held_files)} other images held out "
            "for the denoising loss.")
    return train, validation, text


def build_model(recipe: Recipe, seed: int = 0):
    """A freshly initialised ``UNet2DModel`` and its ``DDPMScheduler``."""
    import diffusers

    if recipe.model not in MODELS:
        raise ValueError(f"--model: expected one of {sorted(MODELS)}, got {recipe.model!r}")
    config = {**MODELS[recipe.model], "sample_size": recipe.image_size, "in_channels": recipe.channels,
              "out_channels": recipe.channels}
    with torch.random.fork_rng():  # diffusers initialises weights from the global generator
        torch.manual_seed(seed)
        unet = diffusers.UNet2DModel(**config)
    return unet, diffusers.DDPMScheduler(**DDPM_LINEAR)


def model_card(name: str, recipe: Recipe, data_text: str, command: str, n_params: int) -> Callable[[dict], str]:
    """A function that renders the model card (Markdown) from the training summary."""

    def render(summary: dict) -> str:
        cfg = summary["config"]
        widths = "-".join(str(w) for w in MODELS[recipe.model]["block_out_channels"])
        return f"""# projdiff prior `{name}`

UNet2DModel `{recipe.model}` (block widths {widths}, attention at the lowest resolution), {recipe.channels} channel(s),
trained at {recipe.image_size}x{recipe.image_size}; {n_params:,} parameters. DDPM noise schedule (linear betas
1e-4..0.02, 1000 steps, epsilon prediction). The weights are the EMA (decay {cfg['ema_decay']}) of the training weights.

## Data
{data_text}

## Training
- Command: `{command}`
- Steps: {summary['step']} at global batch {cfg['batch_size']}; AdamW, learning rate {cfg['learning_rate']} after {cfg['warmup_steps']} warm-up steps; seed {cfg['seed']}
- Wall time: {summary['wall_seconds']:.0f} s ({summary['wall_seconds'] / 3600:.2f} h) on {platform.machine()}, torch {torch.__version__}, Python {sys.version.split()[0]}
- Held-out denoising loss (EMA weights; MSE of the epsilon prediction at uniform random time steps with fixed noise, on the held-out images): {summary['heldout_loss']:.5f}

## Use
```python
import projdiff
prior = projdiff.load_prior("path/to/this/folder")   # or "bundled:{name}" for a bundled prior
```
"""

    return render
