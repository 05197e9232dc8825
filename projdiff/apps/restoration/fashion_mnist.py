"""Fashion-MNIST from the IDX files of Debian's ``dataset-fashion-mnist`` package.

The images are 28x28 uint8; they are zero-padded to 32x32 (two pixels of background on each
side) so that a UNet with three resolution levels can process them.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
_IMAGE_MAGIC = 2051
_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}


def _root() -> Path:
    return Path(os.environ.get("PROJDIFF_FASHION_MNIST", DEFAULT_ROOT))


def load_fashion_mnist(split: str = "train", root: str | Path | None = None) -> np.ndarray:
    """Read the Fashion-MNIST images of one split.

    Parameters
    ----------
    split : {"train", "test"}
        ``train`` has 60,000 images, ``test`` 10,000.
    root : path, optional
        Folder holding the IDX ``.gz`` files. Default: ``$PROJDIFF_FASHION_MNIST`` or
        ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).

    Returns
    -------
    numpy.ndarray of shape (N, 28, 28), dtype uint8, values 0..255.
    """
    if split not in _FILES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    path = Path(root) if root is not None else _root()
    file = path / _FILES[split]
    if not file.is_file():
        raise FileNotFoundError(
            f"{file}: Fashion-MNIST not found; install it with 'apt-get install dataset-fashion-mnist' "
            "or set PROJDIFF_FASHION_MNIST to the folder holding the IDX files"
        )
    with gzip.open(file, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">i4")
    if magic != _IMAGE_MAGIC or len(raw) != 16 + count * rows * cols:
        raise ValueError(f"{file}: not an IDX image file (magic {magic}, {len(raw)} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)


class FashionMNIST(Dataset):
    """Fashion-MNIST as ``(1, 32, 32)`` float tensors in [-1, 1], padded with background.

    Parameters
    ----------
    split : {"train", "test"}
    indices : slice or sequence of int, optional
        Subset of the split (e.g. ``slice(0, 55000)`` for training and ``slice(55000, None)`` for a
        held-out validation set).
    root : path, optional
        See :func:`load_fashion_mnist`.
    """

    def __init__(self, split: str = "train", indices=None, root=None):
        images = load_fashion_mnist(split, root)
        if indices is not None:
            images = images[indices]
        x = torch.from_numpy(images.copy()).float().div(127.5).sub(1.0)
        self.images = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0).unsqueeze(1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]
