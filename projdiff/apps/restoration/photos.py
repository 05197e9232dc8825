"""Natural photographs that ship offline: the training, validation and test data of the RGB photo prior.

Sources (licence recorded per photo in the manifest):

- Debian ``mate-backgrounds``: all 12 photographs of ``/usr/share/backgrounds/mate/nature/`` (GPL-2+,
  see the package's copyright file); its ``abstract/`` and ``desktop/`` folders are rendered art.
- Debian ``plasma-workspace-wallpapers``: the wallpapers of ``/usr/share/wallpapers/`` that are photographs
  (``PLASMA_PHOTOGRAPHS``, chosen by looking at every wallpaper; LGPL-3 per each wallpaper's
  ``metadata.json``), at their largest size. Not used because rendered or painted: ``PLASMA_RENDERED``.
- Debian ``gnome-backgrounds`` (43): every image is rendered or abstract; none is used.
- scikit-image's bundled photographs (CC0 or public domain): ``SKIMAGE_PHOTOGRAPHS``; the grayscale ones are
  stored as RGB with three equal channels, so the prior also knows grayscale photographs.

Each photograph is resized (Lanczos, antialiased) so that its short side is at most ``short_side`` pixels
(default 768) and stored as ``DIR/SPLIT/NAME.png`` (RGB, 8 bit). The split is by photograph and
deterministic: photographs sorted by SHA-256 of ``"projdiff-photos/" + NAME``; the first ``TEST_COUNT``
are the test set, the next ``VALIDATION_COUNT`` the validation set, the rest the training set.
``DIR/manifest.json`` lists every photograph with its source file, package, licence, original and stored
size, split and the SHA-256 of the stored file.

Benchmark crops (``benchmark_crop``): a test photograph resized so its short side is 1.5 times the crop, then the
centre crop (128 x 128 and 256 x 256 in ``benchmarks/photos.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from projdiff.utils.files import write_bytes, write_json

MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")
PLASMA_WALLPAPERS = Path("/usr/share/wallpapers")
PLASMA_PHOTOGRAPHS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                      "Kite", "OneStandsOut", "Path", "summer_1am")
PLASMA_RENDERED = ("Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow", "FlyingKonqui", "Honeywave",
                   "IceCold", "Kay", "Kokkini", "MilkyWay", "Opal", "PastelHills", "Patak", "SafeLanding", "Shell",
                   "Volna")
SKIMAGE_PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "clock", "brick", "grass",
                       "gravel")
TEST_COUNT, VALIDATION_COUNT = 5, 3
DEBIAN_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")


@dataclass(frozen=True)
class Photograph:
    """One source photograph: ``load()`` gives an (H, W, 3) uint8 array."""

    name: str
    source: str
    package: str
    licence: str
    load: Callable[[], np.ndarray]


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _largest(folder: Path) -> Path:
    return max((p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png")), key=lambda p: p.stat().st_size)


def catalogue() -> list[Photograph]:
    """Every photograph of the sources above; ``FileNotFoundError`` naming the missing package or module."""
    photos = []
    if not MATE_NATURE.is_dir() or not (PLASMA_WALLPAPERS / PLASMA_PHOTOGRAPHS[0]).is_dir():
        raise FileNotFoundError(f"photos: Debian packages missing; apt-get install {' '.join(DEBIAN_PACKAGES)}")
    for path in sorted(MATE_NATURE.glob("*.jpg")):
        photos.append(Photograph(f"mate-{path.stem}", str(path), "mate-backgrounds", "GPL-2+",
                                 lambda path=path: _read_rgb(path)))
    for name in PLASMA_PHOTOGRAPHS:
        folder = PLASMA_WALLPAPERS / name
        meta = json.loads((folder / "metadata.json").read_text())["KPlugin"]
        author = meta["Authors"][0]["Name"]
        path = _largest(folder / "contents" / "images")
        photos.append(Photograph(f"plasma-{name}", str(path), "plasma-workspace-wallpapers",
                                 f"{meta.get('License', 'LGPLv3')} ({author})", lambda path=path: _read_rgb(path)))
    try:
        import skimage.data
    except ImportError:
        raise FileNotFoundError("photos: scikit-image is not installed (pip install scikit-image)") from None
    for name in SKIMAGE_PHOTOGRAPHS:
        def load(name=name) -> np.ndarray:
            array = getattr(skimage.data, name)()
            return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array

        photos.append(Photograph(f"skimage-{name}", f"skimage.data.{name}()", "scikit-image", "CC0 / public domain",
                                 load))
    return photos


def split_of(names: list[str]) -> dict[str, str]:
    """The split of every photograph (see the module docstring)."""
    order = sorted(names, key=lambda n: hashlib.sha256(f"projdiff-photos/{n}".encode()).hexdigest())
    return {name: "test" if i < TEST_COUNT else "validation" if i < TEST_COUNT + VALIDATION_COUNT else "train"
            for i, name in enumerate(order)}


def shrink(array: np.ndarray, short_side: int) -> np.ndarray:
    """(H, W, 3) uint8 resized (Lanczos) so that its short side is at most ``short_side``."""
    h, w = array.shape[:2]
    scale = short_side / min(h, w)
    if scale >= 1:
        return array
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.LANCZOS))


def build_photos(root: str | Path, short_side: int = 768, progress: bool = True) -> dict:
    """Write the photographs and ``manifest.json`` into ``root``; returns the manifest.

    A photograph already stored with the same settings is not written again.
    """
    if short_side < 64:
        raise ValueError(f"--short-side: expected at least 64 pixels, got {short_side}")
    root = Path(root)
    photos = catalogue()
    splits = split_of([p.name for p in photos])
    path = root / "manifest.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    if previous and previous.get("short_side") != short_side:
        raise ValueError(f"{path}: was built with --short-side {previous.get('short_side')}; use another folder")
    entries = previous.get("photos", {})
    for photo in photos:
        target = root / splits[photo.name] / f"{photo.name}.png"
        if photo.name in entries and target.is_file():
            continue
        original = photo.load()
        stored = shrink(original, short_side)
        buffer = io.BytesIO()
        Image.fromarray(stored).save(buffer, format="PNG")
        write_bytes(target, buffer.getvalue())
        entries[photo.name] = {"file": f"{splits[photo.name]}/{photo.name}.png", "split": splits[photo.name],
                               "source": photo.source, "package": photo.package, "licence": photo.licence,
                               "original_size": list(original.shape[1::-1]), "stored_size": list(stored.shape[1::-1]),
                               "sha256": hashlib.sha256(buffer.getvalue()).hexdigest()}
        if progress:
            print(f"photos: {photo.name} ({splits[photo.name]}, {stored.shape[1]}x{stored.shape[0]})", flush=True)
    manifest = {"short_side": short_side, "excluded_as_rendered": list(PLASMA_RENDERED),
                "photos": dict(sorted(entries.items()))}
    write_json(path, manifest)
    return manifest


def read_manifest(root: str | Path) -> dict:
    """The manifest of a photo folder; FileNotFoundError with the command that builds it."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: no manifest.json; build it with 'projdiff data photos --out {root}'")
    return json.loads(path.read_text())


def load_split(root: str | Path, split: str) -> dict[str, np.ndarray]:
    """The stored photographs of one split as (H, W, 3) uint8 arrays, by name."""
    root = Path(root)
    entries = read_manifest(root)["photos"]
    return {name: _read_rgb(root / e["file"]) for name, e in entries.items() if e["split"] == split}


def benchmark_crop(photo: np.ndarray, size: int) -> np.ndarray:
    """The benchmark crop of a test photograph: resized to short side 1.5 ``size``, centre ``size`` x ``size``."""
    small = shrink(photo, round(1.5 * size))
    h, w = small.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return small[top : top + size, left : left + size]
