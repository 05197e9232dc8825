"""Image-folder and random-patch training sets (RGB or grayscale, any size on disk).

Files are read with ``image_io.read_image``, so training reads exactly the formats ``restore`` reads
(``image_io.IMAGE_SUFFIXES``).

Randomness (crop positions) is a pure function of ``(seed, epoch, index)``, so a resumed or
sharded training run sees exactly the items an uninterrupted single-process run would see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from projdiff.apps.restoration.image_io import IMAGE_SUFFIXES, read_image
from projdiff.utils.seeds import derive_seed


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (recursively), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _as_pil(image) -> Image.Image:
    """A uint8 array (H, W) / (H, W, 3) or a (C, H, W) tensor in [0, 1] as an 8-bit PIL image."""
    if isinstance(image, torch.Tensor):
        image = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).squeeze(-1).numpy()
    return Image.fromarray(np.asarray(image))


def _to_tensor(image: Image.Image, channels: int) -> torch.Tensor:
    image = image.convert("L" if channels == 1 else "RGB")
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    if array.ndim == 2:
        array = array[None]
    else:
        array = array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


class _SeededCrops(Dataset):
    """Base: ``images`` is a list of (C, H, W) tensors in [-1, 1]; items are random crops, with a random
    90-degree rotation and flip when ``augment``."""

    def __init__(self, images: Sequence[torch.Tensor], size: int, length: int, seed: int, augment: bool = False):
        for i, image in enumerate(images):
            if min(image.shape[-2:]) < size:
                raise ValueError(f"image {i}: expected height and width >= {size}, got {tuple(image.shape[-2:])}")
        self.images = list(images)
        self.size = size
        self.length = length
        self.seed = seed
        self.augment = augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(derive_seed("projdiff.data", self.seed, self.epoch, index))
        image = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
        h, w = image.shape[-2:]
        top = int(torch.randint(h - self.size + 1, (1,), generator=g))
        left = int(torch.randint(w - self.size + 1, (1,), generator=g))
        crop = image[:, top : top + self.size, left : left + self.size]
        if self.augment:
            turns, flip = (int(v) for v in torch.randint(4, (2,), generator=g))
            crop = torch.rot90(crop, turns, dims=(-2, -1))
            crop = crop.flip(-1) if flip % 2 else crop
        return crop


class ImageFolderDataset(_SeededCrops):
    """Random square crops of the images in a folder (any ``IMAGE_SUFFIXES`` file), resized first.

    Each image is resized so that its shorter side is ``resize`` pixels (default: ``size``, i.e.
    crops cover the whole short side), then cropped at a random position to ``size`` x ``size``.

    Parameters
    ----------
    folder : path or sequence of paths
        A folder (searched recursively) or an explicit list of image files.
    size : int
        Side of the square training items.
    channels : {1, 3}
    resize : int, optional
        Shorter side after resizing; must be >= ``size``.
    length : int, default 10000
        Items per epoch.
    seed : int, default 0
    """

    def __init__(self, folder, size: int, channels: int = 3, resize: int | None = None,
                 length: int = 10000, seed: int = 0):
        if isinstance(folder, (str, Path)):
            folder = Path(folder)
            files = image_files(folder)
        else:
            files = [Path(f) for f in folder]
        if not files:
            raise FileNotFoundError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
        resize = resize or size
        images = []
        for file in files:
            im = _as_pil(read_image(file))
            scale = resize / min(im.size)
            im = im.resize((max(size, round(im.size[0] * scale)), max(size, round(im.size[1] * scale))),
                           Image.Resampling.BICUBIC)
            images.append(_to_tensor(im, channels))
        super().__init__(images, size, length, seed)


class RandomPatchDataset(_SeededCrops):
    """Random ``size`` x ``size`` patches of a few large images, at their native resolution.

    Parameters
    ----------
    images : sequence of images
        uint8 numpy arrays (H, W) or (H, W, 3), or float tensors (C, H, W) in [0, 1] as returned by
        ``projdiff.apps.restoration.image_io.read_image``.
    size : int
    channels : {1, 3}
    length : int, default 10000
    seed : int, default 0
    """

    def __init__(self, images: Sequence, size: int, channels: int = 3, length: int = 10000, seed: int = 0):
        super().__init__([_to_tensor(_as_pil(image), channels) for image in images], size, length, seed)


def pyramid(image: Image.Image, smallest: int, factor: float = 2 ** 0.5) -> list[Image.Image]:
    """``image`` and copies downscaled from it (Lanczos) by ``factor``, ``factor^2``, ... while the short side
    stays >= ``smallest``."""
    w, h = image.size
    levels, k = [image], 1
    while min(w, h) / factor ** k >= smallest:
        levels.append(image.resize((round(w / factor ** k), round(h / factor ** k)), Image.Resampling.LANCZOS))
        k += 1
    return levels


class MultiScaleCrops(_SeededCrops):
    """Random ``size`` x ``size`` crops of photographs at several scales, rotated and flipped at random.

    Every photograph is kept at its own size and downscaled by factors of sqrt(2) while its short side
    stays at least 1.5 ``size`` (so a crop shows from about a fifth of the photograph's short side to two
    thirds of it); an item is a crop of a uniformly chosen (photograph, scale) pair, turned by a random
    multiple of 90 degrees and mirrored with probability 1/2. Items are (C, size, size) in [-1, 1].

    Parameters
    ----------
    images : sequence of (H, W, 3) uint8 arrays
    size : int
    channels : {1, 3}
    length : int, default 10000
    seed : int, default 0
    """

    def __init__(self, images: Sequence[np.ndarray], size: int, channels: int = 3, length: int = 10000,
                 seed: int = 0):
        levels = [level for image in images for level in pyramid(_as_pil(image), round(1.5 * size))]
        super().__init__([_to_tensor(level, channels) for level in levels], size, length, seed, augment=True)
