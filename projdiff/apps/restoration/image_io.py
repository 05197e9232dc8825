"""Image files in and out: PNG, JPEG, TIFF, BMP and NPY; grayscale or RGB; 8 or 16 bit.

In memory an image is a float32 tensor of shape (C, H, W) with C = 1 or 3 and values in [0, 1]
(8-bit values are divided by 255, 16-bit ones by 65535). Files are written atomically: to a
temporary name in the target folder, then renamed, so a reader never sees half a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from projdiff.utils.figures import to_uint
from projdiff.utils.files import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")  # what read_image reads


class ImageError(ValueError):
    """An image file that cannot be used; the message starts with the file name."""


def _from_array(array: np.ndarray, path: Path) -> torch.Tensor:
    if array.dtype == np.uint8:
        scaled = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        scaled = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        scaled = array.astype(np.float32)
        finite = np.isfinite(scaled)
        if not finite.all():
            raise ImageError(f"{path}: float images must hold finite values in [0, 1], got {int((~finite).sum())} "
                             "NaN or Inf values")
        if scaled.size and (scaled.min() < 0 or scaled.max() > 1):
            raise ImageError(f"{path}: float images must hold values in [0, 1], got "
                             f"[{scaled.min():.3g}, {scaled.max():.3g}]")
    elif array.dtype == bool:
        scaled = array.astype(np.float32)
    else:
        raise ImageError(f"{path}: unsupported pixel type {array.dtype} (expected uint8, uint16, bool or float)")
    if scaled.ndim == 2:
        scaled = scaled[..., None]
    if scaled.ndim != 3 or scaled.shape[-1] not in (1, 2, 3, 4):
        raise ImageError(f"{path}: expected an (H, W) or (H, W, C) image with C in 1..4, got shape {array.shape}")
    if scaled.shape[-1] in (2, 4):  # drop an alpha channel
        scaled = scaled[..., :-1]
    return torch.from_numpy(np.ascontiguousarray(scaled.transpose(2, 0, 1)))


def read_image(path: str | Path) -> torch.Tensor:
    """Read an image file as a (C, H, W) float32 tensor in [0, 1] (C = 1 or 3; alpha is dropped).

    Raises
    ------
    ImageError
        Missing, unreadable or corrupt files and unsupported modes; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageError(f"{path}: unsupported file type {suffix!r} (expected one of {', '.join(IMAGE_SUFFIXES)})")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as image:
                image.load()
                if image.mode == "P":
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                elif image.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
                    image = image.convert("L" if image.mode == "1" else "RGB")
                if image.mode.startswith("I;16"):
                    array = np.asarray(image, dtype=np.uint16)
                elif image.mode in ("I", "F"):
                    raise ImageError(f"{path}: unsupported mode {image.mode!r} (32-bit); save as 8 or 16 bit")
                else:
                    array = np.asarray(image)
    except ImageError:
        raise
    except Exception as exc:  # corrupt files raise many types (OSError, ValueError, SyntaxError...)
        raise ImageError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    return _from_array(np.asarray(array), path)


def write_image(path: str | Path, image: torch.Tensor, bits: int = 8) -> None:
    """Write a (C, H, W) image in [0, 1] atomically as PNG/TIFF/JPEG (8 or 16 bit) or NPY (float32)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = image.detach().float().cpu().numpy().transpose(1, 2, 0)

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a name
                np.save(f, array)

        atomic_write(path, save)
        return
    array = to_uint(image, bits)
    if suffix in (".tif", ".tiff"):
        import tifffile

        atomic_write(path, lambda tmp: tifffile.imwrite(tmp, array))
        return
    from PIL import Image

    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix)
    if fmt is None:
        raise ImageError(f"{path}: unsupported output type {suffix!r}")
    if bits == 16 and (array.ndim == 3 or fmt == "JPEG"):
        raise ImageError(f"{path}: 16-bit RGB or JPEG output is not supported; write a .tif or .npy instead")
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format=fmt))
