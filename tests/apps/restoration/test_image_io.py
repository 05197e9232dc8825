"""Image files: formats, bit depths, modes, corrupt files, atomic writes."""

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from projdiff.apps.restoration.image_io import ImageError, read_image, write_image


@pytest.mark.parametrize("suffix, bits", [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16)])
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_is_exact_to_the_bit_depth(tmp_path, suffix, bits, channels):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(channels, 9, 13, generator=g)
    path = tmp_path / f"x{suffix}"
    if bits == 16 and channels == 3 and suffix == ".png":
        with pytest.raises(ImageError, match="16-bit RGB"):
            write_image(path, image, bits=bits)
        return
    write_image(path, image, bits=bits)
    back = read_image(path)
    assert back.shape == (channels, 9, 13) and back.dtype == torch.float32
    assert float((back - image).abs().max()) <= 0.5 / (255 if bits == 8 else 65535) + 1e-7


def test_jpeg_npy_and_alpha(tmp_path):
    rgba = np.zeros((6, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png").shape == (3, 6, 5)  # alpha dropped
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "b.jpg")
    torch.testing.assert_close(read_image(tmp_path / "b.jpg"), torch.full((3, 8, 8), 128 / 255), atol=2 / 255, rtol=0)
    np.save(tmp_path / "c.npy", np.full((4, 4), 0.25, np.float32))
    assert float(read_image(tmp_path / "c.npy").max()) == 0.25
    tifffile.imwrite(tmp_path / "d.tif", np.full((4, 4), 65535, np.uint16))
    assert float(read_image(tmp_path / "d.tif").min()) == 1.0


@pytest.mark.parametrize("name, make, message", [
    ("bad.png", lambda p: p.write_bytes(b"not an image"), "cannot read image"),
    ("bad.npy", lambda p: np.save(p, np.full((4, 4), 2.0)), r"values in \[0, 1\]"),
    ("bad.npy", lambda p: np.save(p, np.zeros((2, 4, 4, 4))), r"expected an \(H, W\)"),
])
def test_bad_files_are_named(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(ImageError, match=rf"^{path}: .*{message}"):
        read_image(path)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "none.png")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(ImageError, match="unsupported file type"):
        read_image(tmp_path / "x.gif")


def test_writes_leave_no_temporary_files(tmp_path):
    write_image(tmp_path / "out" / "x.png", torch.rand(1, 4, 4))
    write_image(tmp_path / "out" / "x.npy", torch.rand(1, 4, 4))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.npy", "x.png"]
