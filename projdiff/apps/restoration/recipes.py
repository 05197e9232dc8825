"""Training recipes of image priors: Fashion-MNIST, image folders and random patches (``projdiff train``).

``projdiff train --preset fashion-mnist-32`` reproduces the bundled prior; ``--data`` trains any
architecture on other images:

- ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` (train images 0..54,999; 55,000..55,999 are held
  out for the validation loss), 32x32 grayscale;
- ``folder:PATH``: images in a folder (any format ``restore`` reads, any size), resized so the short
  side is the training size, random square crops; the last tenth of the files (sorted by name, at
  least one) is held out for the validation loss;
- ``patches:PATH``: random patches of the images in a folder at their native resolution (the same
  hold-out rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from projdiff.apps.restoration.fashion_mnist import FashionMNIST
from projdiff.apps.restoration.image_datasets import ImageFolderDataset, RandomPatchDataset, image_files
from projdiff.apps.restoration.image_io import read_image
from projdiff.training import Recipe, TrainingData
from projdiff.training.architectures import SMALL


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


PRESETS = {"fashion-mnist-32": Recipe(SMALL, FashionMNISTData(), (1, 32, 32))}
