"""Training recipes as plain data: UNet architectures, data sources and named presets.

``projdiff train --preset fashion-mnist-32`` reproduces the bundled prior; ``--data`` trains the same
architectures on other data:

- ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` (train images 0..54,999; 55,000..55,999 are held
  out for the validation loss), 32x32 grayscale;
- ``folder:PATH``: images in a folder (PNG/JPEG/TIFF of any size), resized so the short side is the
  training size, random square crops; the last tenth of the files (sorted by name, at least one) is
  held out for the validation loss;
- ``patches:PATH``: random patches of the images in a folder at their native resolution (the same
  hold-out rule);
- ``lesions:PATH``: S-slice crops around realistic lesions in phantoms, with the lesion and organ mask
  stacks as the condition (``projdiff.data.lesion_crops``; the cache in PATH is built on first use).
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
    # Waveforms: a Dance-Diffusion-style UNet1DModel, 1.2 M parameters at 4 stems; 8 levels so that
    # self-attention only runs at L/64 and L/128 (few tokens), Fourier time embedding.
    "audio-small": {"_class": "UNet1DModel", "extra_in_channels": 16, "time_embedding_type": "fourier",
                    "time_embedding_dim": 16,
                    "flip_sin_to_cos": True, "use_timestep_embedding": False, "layers_per_block": 1,
                    "block_out_channels": [16, 16, 32, 32, 32, 48, 48, 48],
                    "down_block_types": ["DownBlock1DNoSkip"] + ["DownBlock1D"] * 5 + ["AttnDownBlock1D"] * 2,
                    "up_block_types": ["AttnUpBlock1D"] * 2 + ["UpBlock1D"] * 5 + ["UpBlock1DNoSkip"],
                    "mid_block_type": "UNetMidBlock1D", "out_block_type": None, "act_fn": None},
    "audio-tiny": {"_class": "UNet1DModel", "extra_in_channels": 16, "time_embedding_type": "fourier",
                   "flip_sin_to_cos": True, "use_timestep_embedding": False, "layers_per_block": 1,
                   "block_out_channels": [8, 16, 32, 32],
                   "down_block_types": ["DownBlock1DNoSkip", "DownBlock1D", "DownBlock1D", "AttnDownBlock1D"],
                   "up_block_types": ["AttnUpBlock1D", "UpBlock1D", "UpBlock1D", "UpBlock1DNoSkip"],
                   "mid_block_type": "UNetMidBlock1D", "out_block_type": None},
}


@dataclass(frozen=True)
class Recipe:
    """What to train: architecture name, data source, size and channels.

    ``image_size`` is the side of square training crops for 2D models and the segment length in
    samples for 1D (audio) models; ``channels`` is the number of stems for audio.
    ``condition_channels`` > 0 makes a conditional UNet (input = channels + condition channels).
    """

    model: str = "small"
    data: str = "fashion-mnist"
    image_size: int = 32
    channels: int = 1
    batch_size: int = 64
    learning_rate: float = 5e-4
    condition_channels: int = 0


WAVEFORM_SCALE = 0.25  # audio model data = waveform / 0.25: stems peak below 0.2, RMS about 0.05
# Recommended sampler of the chorale prior (metadata "sampler", read by projdiff.tasks.audio), chosen
# by SI-SDRi on 4 validation chorales with the 3400-step prior (model card of bundled:chorales): the
# noise range in waveform units (stems have RMS ~0.05, so 0.25 already hides them), 8 inner ProjDiff
# iterations with a small step and momentum. It beat the engine defaults by ~2.9 dB there.
CHORALES_SAMPLER = {"steps": 30, "sigma_max": 0.25, "sigma_min": 0.0025, "inner_steps": 8, "step_size": 0.2,
                    "momentum": 0.5}

PRESETS: dict[str, Recipe] = {
    "fashion-mnist-32": Recipe(),
    "chorales": Recipe(model="audio-small", data="chorales:runs/data/chorales-8k", image_size=8192, channels=4,
                       batch_size=16, learning_rate=5e-4),
    # 8 axial slices x 32 x 32 (2.5 x 1.5 x 1.5 mm) conditioned on the lesion and organ mask stacks.
    "lesions": Recipe(model="small", data="lesions:runs/data/lesions", image_size=32, channels=8, condition_channels=16,
                      batch_size=32, learning_rate=5e-4),
}


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

    if recipe.data.startswith("chorales:"):
        return _chorale_data(recipe, seed)
    if recipe.data.startswith("lesions:"):
        return _lesion_data(recipe, seed)
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


def _chorale_data(recipe: Recipe, seed: int):
    import json

    from projdiff.data.chorales import STEMS
    from projdiff.data.stems import StemSegments, load_tracks

    root = Path(recipe.data.partition(":")[2])
    if not (root / "manifest.json").is_file():
        raise FileNotFoundError(f"--data {root}: no manifest.json; build it with 'projdiff data chorales --out {root}'")
    if recipe.channels != len(STEMS):
        raise ValueError(f"--channels: the chorales have {len(STEMS)} stems, got {recipe.channels}")
    settings = json.loads((root / "manifest.json").read_text())["settings"]
    train_tracks, _ = load_tracks(root / "train", STEMS)
    held_tracks, _ = load_tracks(root / "validation", STEMS)
    train = StemSegments(train_tracks, recipe.image_size, WAVEFORM_SCALE, gain_jitter=0.3, seed=seed)
    held = StemSegments(held_tracks, recipe.image_size, WAVEFORM_SCALE, length=128, seed=seed + 1)
    validation = torch.stack([held[i] for i in range(len(held))])
    seconds = sum(t.shape[1] for t in train_tracks) / settings["sample_rate"]
    text = (f"Bach chorales rendered voice by voice ({root}/manifest.json: {settings['soundfont']}, "
            f"{settings['sample_rate']} Hz, stems {', '.join(STEMS)}; instruments {settings['instruments']}). "
            f"Training: {len(train_tracks)} chorales ({seconds / 60:.1f} min), random {recipe.image_size}-sample "
            f"segments, each stem scaled by a random gain in [0.7, 1.3], waveform / {WAVEFORM_SCALE}. "
            f"Held out for the denoising loss: 128 fixed segments of the {len(held_tracks)} validation chorales; "
            "the test chorales are never used.")
    return train, validation, text


def _lesion_data(recipe: Recipe, seed: int):
    from projdiff.data.lesion_crops import lesion_training_data

    if recipe.condition_channels != 2 * recipe.channels:
        raise ValueError(f"--data {recipe.data}: the condition is the lesion and organ mask stacks, "
                         f"2 x {recipe.channels} channels; use --preset lesions")
    return lesion_training_data(recipe.data.partition(":")[2], recipe.channels, recipe.image_size, seed)


def _lesion_metadata(recipe: Recipe) -> dict:
    from projdiff.data.lesion_crops import LesionCropSpec, read_manifest

    spec = LesionCropSpec.from_dict(read_manifest(recipe.data.partition(":")[2])["spec"])
    return {"kind": "lesion", "slices": spec.slices, "crop": spec.size, "window_hu": list(spec.window),
            "spacing_mm": list(spec.spacing), "condition": ["lesion mask", "organ mask"],
            "units": "window units scaled to [-1, 1]; masks 0/1"}


def recipe_metadata(recipe: Recipe) -> dict:
    """What a task needs to use the trained prior (saved in ``projdiff.json``)."""
    if recipe.data.startswith("lesions:"):
        return _lesion_metadata(recipe)
    if not recipe.data.startswith("chorales:"):
        return {}
    import json

    from projdiff.data.chorales import STEMS

    root = Path(recipe.data.partition(":")[2])
    settings = json.loads((root / "manifest.json").read_text())["settings"]
    return {"kind": "audio", "sample_rate": settings["sample_rate"], "stems": list(STEMS),
            "waveform_scale": WAVEFORM_SCALE, "segment": recipe.image_size, "sampler": dict(CHORALES_SAMPLER)}


def build_model(recipe: Recipe, seed: int = 0):
    """A freshly initialised ``UNet2DModel`` and its ``DDPMScheduler``."""
    import diffusers

    if recipe.model not in MODELS:
        raise ValueError(f"--model: expected one of {sorted(MODELS)}, got {recipe.model!r}")
    config = {**MODELS[recipe.model], "sample_size": recipe.image_size,
              "in_channels": recipe.channels + recipe.condition_channels, "out_channels": recipe.channels}
    cls = getattr(diffusers, config.pop("_class", "UNet2DModel"))
    with torch.random.fork_rng():  # diffusers initialises weights from the global generator
        torch.manual_seed(seed)
        unet = cls(**config)
    return unet, diffusers.DDPMScheduler(**DDPM_LINEAR)


def model_card(name: str, recipe: Recipe, data_text: str, command: str, n_params: int) -> Callable[[dict], str]:
    """A function that renders the model card (Markdown) from the training summary."""

    def render(summary: dict) -> str:
        cfg = summary["config"]
        model = MODELS[recipe.model]
        widths = "-".join(str(w) for w in model["block_out_channels"])
        audio = model.get("_class") == "UNet1DModel"
        shape = (f"{recipe.channels} stems, {recipe.image_size}-sample segments" if audio else
                 f"{recipe.channels} channel(s), trained at {recipe.image_size}x{recipe.image_size}")
        if recipe.condition_channels:
            shape += f", conditioned on {recipe.condition_channels} extra input channels"
        return f"""# projdiff prior `{name}`

{model.get('_class', 'UNet2DModel')} `{recipe.model}` (block widths {widths}, attention at the lowest resolutions), {shape};
{n_params:,} parameters. DDPM noise schedule (linear betas 1e-4..0.02, 1000 steps, epsilon prediction). The weights
are the EMA (decay {cfg['ema_decay']}) of the training weights.

## Data
{data_text}

## Training
- Command: `{command}`
- Steps: {summary['step']} at global batch {cfg['batch_size']}; AdamW, learning rate {cfg['learning_rate']} after {cfg['warmup_steps']} warm-up steps; seed {cfg['seed']}
- Wall time: {summary['wall_seconds']:.0f} s ({summary['wall_seconds'] / 3600:.2f} h) on {platform.machine()} ({summary['hardware']}), torch {torch.__version__}, Python {sys.version.split()[0]}
- Held-out denoising loss (EMA weights; MSE of the epsilon prediction at uniform random time steps with fixed noise, on the held-out data above): {summary['heldout_loss']:.5f}

## Use
```python
import projdiff
prior = projdiff.load_prior("path/to/this/folder")   # or "bundled:{name}" for a bundled prior
```
"""

    return render
