"""Training data sources: tensors in the prior's data space, one item per index."""

from projdiff.data.fashion_mnist import FashionMNIST, load_fashion_mnist
from projdiff.data.images import ImageFolderDataset, RandomPatchDataset

__all__ = ["FashionMNIST", "ImageFolderDataset", "RandomPatchDataset", "load_fashion_mnist"]
