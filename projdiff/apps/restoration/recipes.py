"""Training recipes of image priors: Fashion-MNIST, image folders and random patches (``projdiff train``).

``projdiff train --preset fashion-mnist-32`` reproduces the bundled prior; ``--data`` trains any
architecture on other images:

- ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` (train images 0..54,999; 55,000..55,999 are held
  out for the validation loss), 32x32 grayscale;
- ``folder:PATH``: images in a folder (any format ``restore`` reads, any size), resized so the short
  side is the training size, random square crops; the last tenth of the files (sorted by name, at
  least one) is held out for the validation loss;
- ``patches:PATH``: random patches of the images in a folder at their native resolution (the same
  hold-out rule);
- ``photos:PATH``: the natural photographs built by ``projdiff data photos --out PATH`` (``photos.py``):
  random crops of the training photographs at several scales, turned and mirrored at random; held out:
  fixed crops of the validation photographs. ``--preset photos-rgb`` trains the bundled RGB prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from projdiff.apps.restoration.fashion_mnist import FashionMNIST
from projdiff.apps.restoration.image_datasets import (ImageFolderDataset, MultiScaleCrops, RandomPatchDataset,
                                                      image_files)
from projdiff.apps.restoration.image_io import read_image
from projdiff.apps.restoration.photos import load_split
from projdiff.training import Architecture, Recipe, TrainingData
from projdiff.training.architectures import SMALL

# The photo prior: fully convolutional (no attention, so any image size sees the same network), four
# levels (receptive field of the coarsest level: 8 pixels per step), 4.1 M parameters at 3 channels.
PHOTO_UNET = Architecture("photo", {
    "layers_per_block": 1, "block_out_channels": [32, 64, 128, 128], "norm_num_groups": 8,
    "down_block_types": ["DownBlock2D"] * 4, "up_block_types": ["UpBlock2D"] * 4})


@dataclass(frozen=True)
class FashionMNISTData:
    """Fashion-MNIST, 32x32 grayscale (``--data fashion-mnist``)."""

    def load(self, recipe: Recipe, seed: int) -> TrainingData:
        if recipe.shape != (1, 32, 32):
            raise ValueError("--data fashion-mnist: images are 32x32 grayscale (--image-size 32 --channels 1)")
        text = ("Fashion-MNIST (Debian dataset-fashion-mnist, MIT), train split images 0..54999 for training, "
                "images 55000..55999 held out for the denoising loss; the 10,000 test images are never used in "
                "training. 28x28 padded with background to 32x32, scaled to [-1, 1].")
        return TrainingData(FashionMNIST("train", indices=slice(0, 55000)),
                            FashionMNIST("train", indices=slice(55000, 56000)).images, text)


def _split_files(folder: Path) -> tuple[list[Path], list[Path]]:
    files = image_files(folder)
    if len(files) < 2:
        raise ValueError(f"--data {folder}: expected at least 2 images (one is held out), found {len(files)}")
    held = max(1, len(files) // 10)
    return files[:-held], files[-held:]


@dataclass(frozen=True)
class ImageFolderData:
    """Images in ``folder``: random crops after resizing (``patches=False``, ``--data folder:PATH``) or
    random patches at native resolution (``patches=True``, ``--data patches:PATH``)."""

    folder: Path
    patches: bool = False

    def load(self, recipe: Recipe, seed: int) -> TrainingData:
        folder = Path(self.folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"--data {folder}: no such folder")
        if len(recipe.shape) != 3:
            raise ValueError(f"--data {folder}: images need a 2D architecture, got items of shape {recipe.shape}")
        if recipe.channels not in (1, 3):
            raise ValueError(f"--channels: images have 1 (grayscale) or 3 (RGB) channels, got {recipe.channels}")
        train_files, held_files = _split_files(folder)
        size, channels = recipe.size, recipe.channels
        if self.patches:
            train = RandomPatchDataset([read_image(f) for f in train_files], size, channels, seed=seed)
            held = RandomPatchDataset([read_image(f) for f in held_files], size, channels, length=256, seed=seed + 1)
        else:
            train = ImageFolderDataset(train_files, size, channels, seed=seed)
            held = ImageFolderDataset(held_files, size, channels, length=256, seed=seed + 1)
        validation = torch.stack([held[i] for i in range(len(held))])
        how = "random patches" if self.patches else "random crops after resizing"
        text = (f"{len(train_files)} images from {folder} ({how} of {size}x{size}, {channels} channel(s), scaled to "
                f"[-1, 1]); {len(held_files)} other images held out for the denoising loss.")
        return TrainingData(train, validation, text)


PHOTO_RESTORATION = {"steps": 50, "end_at_measurement_noise": True}
"""Restoration settings the photo prior recommends (``restoration.recommended``): 50 noise levels and,
with one sample, the schedule ending at the measurement's equivalent noise; chosen on the
validation photographs (benchmarks/RESULTS.md, "validation" sections)."""


@dataclass(frozen=True)
class PhotoCrops:
    """The photographs under ``root`` (``projdiff data photos --out ROOT``): multi-scale random crops."""

    root: Path

    def load(self, recipe: Recipe, seed: int) -> TrainingData:
        if len(recipe.shape) != 3:
            raise ValueError(f"--data photos:{self.root}: photographs need a 2D architecture, got items of shape "
                             f"{recipe.shape}")
        train_photos, held_photos = load_split(self.root, "train"), load_split(self.root, "validation")
        if not train_photos or not held_photos:
            raise ValueError(f"--data photos:{self.root}: expected training and validation photographs, got "
                             f"{len(train_photos)} and {len(held_photos)}")
        size, channels = recipe.size, recipe.channels
        train = MultiScaleCrops(list(train_photos.values()), size, channels, seed=seed)
        held = MultiScaleCrops(list(held_photos.values()), size, channels, length=256, seed=seed + 1)
        validation = torch.stack([held[i] for i in range(len(held))])
        pixels = sum(p.shape[0] * p.shape[1] for p in train_photos.values())
        text = (f"{len(train_photos)} natural photographs ({pixels / 1e6:.1f} megapixels as stored, short side at most "
                f"768) from {self.root}/manifest.json (Debian mate-backgrounds and plasma-workspace-wallpapers, "
                f"scikit-image; sources and licences per photograph in the manifest): random {size}x{size} crops at "
                f"{len(train.images)} (photograph, scale) pairs (scales 1, 1/sqrt 2, 1/2, ... while the short side "
                f"stays >= {round(1.5 * size)}), random 90-degree turns and mirroring, {channels} channel(s), scaled "
                f"to [-1, 1]. Held out for the denoising loss: 256 fixed crops of the {len(held_photos)} validation "
                f"photographs ({', '.join(held_photos)}); the test photographs are never used.")
        return TrainingData(train, validation, text, metadata={"restoration": PHOTO_RESTORATION})


PRESETS = {"fashion-mnist-32": Recipe(SMALL, FashionMNISTData(), (1, 32, 32)),
           "photos-rgb": Recipe(PHOTO_UNET, PhotoCrops(Path("runs/data/photos")), (3, 64, 64), batch_size=16,
                                learning_rate=2e-4)}
