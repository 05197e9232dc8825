"""Training data of the lesion prior and the tumor judge: crops around realistic lesions in phantoms.

Each phantom (``projdiff.apps.tumor.phantom``, 64 x 200 x 200 voxels of 2.5 x 1.5 x 1.5 mm, CT noise
drawn from 8-20 HU) receives realistic lesions (``projdiff.apps.tumor.realistic_lesions``) in five organs:

==============  =====  ===================
organ           count  radius (mm)
==============  =====  ===================
liver           3      3-25
spleen          1      3-15
kidney_left     1      3-12
kidney_right    1      3-12
pancreas        1      3-8
==============  =====  ===================

(an organ too small for its draw is skipped). Around every lesion a *patch* is stored: the lesion's
slices plus ``S - 1`` slices above and below, and ``size + 2 * context`` voxels square in-plane,
centred on the lesion's bounding box (HU as int16, the lesion and organ masks).

Prior items (``LesionCrops``), one random crop of a patch each: ``S`` consecutive axial slices
(at least one through the lesion) x ``size`` x ``size`` voxels, the in-plane window shifted by up to
``context / 2`` voxels from the patch centre, random flips of each axis and a random in-plane
transpose. An item is ``torch.cat([image, lesion, organ])`` of shape (3S, size, size), float32:
the image in window units scaled to [-1, 1] (HU window [-175, 250] -> [0, 1] -> [-1, 1]), then the
condition (the trainer's convention: condition channels last): the lesion mask stack and the organ
mask stack (0/1). The organ mask tells the prior where lesion edges are cut by the organ boundary.

Why S = 8 slices and 32 x 32 voxels at 2.5 x 1.5 x 1.5 mm: a crop spans 20 x 48 x 48 mm, so
lesions up to ~10 mm radius (tiny, small and part of medium) fit in one stack with tissue around
them; taller lesions are drawn by overlapping stacks (``projdiff.apps.tumor.projdiff_lesion``), wider
ones with a larger in-plane crop (the UNet is fully convolutional). 2.5 mm slices are common for
abdominal CT reconstructions; the backend resamples other spacings to this one.

Splits are disjoint phantom seeds: train ``k``, validation ``1_000_000 + k``, test (benchmarks)
``2_000_000 + k``. Randomness of an item is a pure function of ``(seed, epoch, index)``.

Cache folder (``build_cache``): ``manifest.json`` (spec and phantom counts) and one
``SPLIT/phantom-SEED.npz`` per phantom, written atomically, so an interrupted build resumes::

    projdiff data lesions --out runs/data/lesions            # 300 train, 16 validation
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from projdiff.apps.tumor.ct.cases import Case
from projdiff.apps.tumor.ct.crops import crop_padded
from projdiff.apps.tumor.ct.hu import HUWindow
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.volume import Volume
from projdiff.apps.tumor.phantom import make_phantom
from projdiff.apps.tumor.realistic_lesions import RealisticLesion, add_realistic_lesions
from projdiff.utils.files import write_bytes, write_json
from projdiff.utils.seeds import derive_seed

ORGAN_LESIONS: dict[str, tuple[int, tuple[float, float]]] = {
    "liver": (3, (3.0, 25.0)), "spleen": (1, (3.0, 15.0)), "kidney_left": (1, (3.0, 12.0)),
    "kidney_right": (1, (3.0, 12.0)), "pancreas": (1, (3.0, 8.0))}
SPLIT_OFFSETS = {"train": 0, "validation": 1_000_000, "test": 2_000_000}
DEFAULT_COUNTS = {"train": 300, "validation": 16}


@dataclass(frozen=True)
class LesionCropSpec:
    """Geometry of the lesion training data (see the module docstring).

    Parameters
    ----------
    slices : int
        S, axial slices per crop (default 8).
    size : int
        In-plane side of a crop, voxels (default 32).
    context : int
        Extra in-plane voxels stored on each side of a patch (default 16; crops shift by up to half).
    spacing : (float, float, float)
        Phantom voxel size along (D, H, W), mm (default 2.5, 1.5, 1.5).
    phantom_shape : (int, int, int)
        Phantom size in voxels (default 64, 200, 200: 160 x 300 x 300 mm).
    window : (float, float)
        HU window mapped to [0, 1] (default -175, 250).
    noise_hu : (float, float)
        Range of the phantoms' CT noise std, HU (default 8-20).
    organs : dict
        Organ -> (lesion count, radius range in mm) (default ``ORGAN_LESIONS``).
    """

    slices: int = 8
    size: int = 32
    context: int = 16
    spacing: tuple[float, float, float] = (2.5, 1.5, 1.5)
    phantom_shape: tuple[int, int, int] = (64, 200, 200)
    window: tuple[float, float] = (-175.0, 250.0)
    noise_hu: tuple[float, float] = (8.0, 20.0)
    organs: dict = field(default_factory=lambda: dict(ORGAN_LESIONS))

    @property
    def condition_channels(self) -> int:
        """Condition channels of the prior: the lesion and organ mask stacks (2 S)."""
        return 2 * self.slices

    @property
    def hu_window(self) -> HUWindow:
        return HUWindow(*self.window)

    def as_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> "LesionCropSpec":
        tuples = {k: tuple(v) for k, v in values.items() if isinstance(v, list)}
        organs = {k: (int(n), tuple(r)) for k, (n, r) in values.get("organs", ORGAN_LESIONS).items()}
        return cls(**{**values, **tuples, "organs": organs})


@dataclass(eq=False)
class LesionPhantom:
    """A phantom with realistic lesions: ``case`` holds the CT with lesions (HU) and the labels with
    the lesions set to the tumor code; ``organ_labels`` are the labels before; ``lesions`` pairs each
    lesion with its organ."""

    case: Case
    organ_labels: np.ndarray
    lesions: list[tuple[str, RealisticLesion]]


@dataclass(eq=False)
class LesionPatch:
    """A stored patch around one lesion: ``hu`` (d, h, w) int16 HU, ``lesion`` and ``organ`` bool masks."""

    hu: np.ndarray
    lesion: np.ndarray
    organ: np.ndarray
    organ_name: str
    radius_mm: float


def phantom_seed(split: str, k: int) -> int:
    """The seed of phantom ``k`` of ``split`` (train, validation or test)."""
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"split: expected one of {', '.join(SPLIT_OFFSETS)}, got {split!r}")
    return SPLIT_OFFSETS[split] + int(k)


def make_lesion_phantom(seed: int, spec: LesionCropSpec = LesionCropSpec()) -> LesionPhantom:
    """A phantom of ``spec`` with realistic lesions in the organs of ``spec.organs`` (seeded)."""
    rng = np.random.default_rng(derive_seed("lesion-phantom", seed))
    phantom = make_phantom(spec.phantom_shape, spec.spacing, seed=seed, noise_hu=float(rng.uniform(*spec.noise_hu)))
    ct, labels = phantom.ct.array, phantom.labels.copy()
    lesions = []
    for organ, (count, size_mm) in spec.organs.items():
        mask = phantom.labels == DEFAULT_LABELS.code(organ)
        if not mask.any():
            continue
        try:
            ct, drawn = add_realistic_lesions(ct, mask, spec.spacing, count, size_mm,
                                              seed=derive_seed("lesion-phantom", seed, organ))
        except ValueError:  # organ too small for this draw
            continue
        for lesion in drawn:
            labels[lesion.placement.mask] = DEFAULT_LABELS.tumor_code
            lesions.append((organ, lesion))
    case = Case(f"lesion-phantom-{seed}", Volume(ct, phantom.ct.grid, f"lesion-phantom(seed={seed})"), labels,
                "phantom")
    return LesionPhantom(case, phantom.labels, lesions)


def lesion_patches(phantom: LesionPhantom, spec: LesionCropSpec = LesionCropSpec()) -> list[LesionPatch]:
    """One patch per lesion (see the module docstring)."""
    ct = np.clip(np.rint(phantom.case.ct.array), -32768, 32767).astype(np.int16)
    side = spec.size + 2 * spec.context
    patches = []
    for organ, lesion in phantom.lesions:
        mask = lesion.placement.mask
        hit = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
        first, last = int(hit[0][0]), int(hit[0][-1])
        depth_start = max(first - spec.slices + 1, 0)
        depth = min(last + spec.slices, mask.shape[0]) - depth_start
        start = [depth_start] + [(int(h[0]) + int(h[-1]) + 1 - side) // 2 for h in hit[1:]]
        shape = (depth, side, side)
        organ_mask = phantom.organ_labels == DEFAULT_LABELS.code(organ)
        patches.append(LesionPatch(crop_padded(ct, start, shape), crop_padded(mask, start, shape, False),
                                   crop_padded(organ_mask, start, shape, False), organ, lesion.placement.radius_mm))
    return patches


def _save_patches(path: Path, patches: list[LesionPatch], side: int) -> None:
    def stacked(name: str, dtype) -> np.ndarray:
        arrays = [getattr(p, name) for p in patches]
        return np.concatenate(arrays).astype(dtype) if arrays else np.zeros((0, side, side), dtype)

    buffer = io.BytesIO()
    np.savez_compressed(buffer, hu=stacked("hu", np.int16), lesion=stacked("lesion", bool),
                        organ=stacked("organ", bool), depths=np.array([p.hu.shape[0] for p in patches], np.int64),
                        organs=np.array([p.organ_name for p in patches], str),
                        radii=np.array([p.radius_mm for p in patches], np.float64))
    write_bytes(path, buffer.getvalue())


def _load_patches(path: Path) -> list[LesionPatch]:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}                 # decompress each array once
    bounds = np.concatenate([[0], np.cumsum(arrays["depths"])])
    return [LesionPatch(arrays["hu"][a:b], arrays["lesion"][a:b], arrays["organ"][a:b], str(organ), float(radius))
            for a, b, organ, radius in zip(bounds[:-1], bounds[1:], arrays["organs"], arrays["radii"])]


def build_cache(root: str | Path, spec: LesionCropSpec = LesionCropSpec(), counts: dict | None = None,
                progress: bool = True) -> dict:
    """Generate the phantoms of each split that are not in ``root`` yet; returns the manifest.

    ``counts`` maps a split to its number of phantoms (default 300 train, 16 validation). Raises
    ValueError when ``root`` was built with another spec.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest["spec"] != spec.as_dict():
            raise ValueError(f"{root}: built with other lesion-crop settings ({manifest_path}); use another folder")
        counts = {split: max(counts.get(split, 0), manifest["counts"].get(split, 0))
                  for split in {**manifest["counts"], **counts}}
    manifest = {"spec": spec.as_dict(), "counts": counts, "seed_offsets": SPLIT_OFFSETS}
    todo = [(split, phantom_seed(split, k)) for split, n in counts.items() for k in range(n)]
    todo = [(split, seed) for split, seed in todo if not (root / split / f"phantom-{seed:07d}.npz").is_file()]
    write_json(manifest_path, manifest)
    for split, seed in tqdm(todo, desc="lesion phantoms", disable=not progress or not todo):
        _save_patches(root / split / f"phantom-{seed:07d}.npz", lesion_patches(make_lesion_phantom(seed, spec), spec),
                      spec.size + 2 * spec.context)
    return manifest


def read_manifest(root: str | Path) -> dict:
    """The cache's manifest; FileNotFoundError naming the build command when there is none."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; build the cache with "
                                f"'projdiff data lesions --out {root}'")
    return json.loads(path.read_text())


def load_patches(root: str | Path, split: str) -> list[LesionPatch]:
    """All patches of ``split`` in the cache (phantoms in seed order)."""
    count = read_manifest(root)["counts"].get(split, 0)
    files = [Path(root) / split / f"phantom-{phantom_seed(split, k):07d}.npz" for k in range(count)]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no such file; finish the cache with "
                                f"'projdiff data lesions --out {root}'")
    return [patch for f in files for patch in _load_patches(f)]


class LesionCrops(Dataset):
    """Random S-slice crops of lesion patches: items of shape (3S, size, size), float32.

    Parameters
    ----------
    patches : list of LesionPatch
    spec : LesionCropSpec
    length : int, optional
        Items per epoch (default 16 per patch); item ``i`` uses patch ``i % len(patches)``.
    seed : int
    """

    def __init__(self, patches: list[LesionPatch], spec: LesionCropSpec = LesionCropSpec(), length: int | None = None,
                 seed: int = 0):
        if not patches:
            raise ValueError("lesion crops: no lesion patches")
        self.patches, self.spec, self.seed, self.epoch = patches, spec, seed, 0
        self.length = 16 * len(patches) if length is None else int(length)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        spec = self.spec
        rng = np.random.default_rng(derive_seed("lesion-crops", self.seed, self.epoch, int(index)))
        patch = self.patches[int(index) % len(self.patches)]
        rows = np.flatnonzero(patch.lesion.any(axis=(1, 2)))
        low = min(max(int(rows[0]) - spec.slices + 1, 0), max(patch.hu.shape[0] - spec.slices, 0))
        high = max(min(int(rows[-1]), patch.hu.shape[0] - spec.slices), low)
        shift = spec.context // 2
        start = (int(rng.integers(low, high + 1)),
                 *(int(v) for v in rng.integers(spec.context - shift, spec.context + shift + 1, 2)))
        shape = (spec.slices, spec.size, spec.size)
        image = 2.0 * spec.hu_window.to_unit(crop_padded(patch.hu, start, shape)) - 1.0
        stack = np.concatenate([image, crop_padded(patch.lesion, start, shape, False),
                                crop_padded(patch.organ, start, shape, False)]).astype(np.float32)
        stack = stack.reshape(3, *shape)
        for axis in (1, 2, 3):
            if rng.random() < 0.5:
                stack = np.flip(stack, axis)
        if rng.random() < 0.5:
            stack = stack.transpose(0, 1, 3, 2)
        return torch.from_numpy(np.ascontiguousarray(stack.reshape(3 * spec.slices, spec.size, spec.size)))


def lesion_training_data(root: str | Path, slices: int = 8, size: int = 32, seed: int = 0, progress: bool = True):
    """``(train_dataset, validation (N, 3S, size, size), description)`` for ``projdiff train``.

    Uses the cache in ``root`` (its manifest's spec) or builds the default one there first.
    Raises ValueError when the cache's S or crop size differ from ``slices`` / ``size``.
    """
    root = Path(root)
    built = (root / "manifest.json").is_file()
    spec = LesionCropSpec.from_dict(read_manifest(root)["spec"]) if built else LesionCropSpec(slices=slices, size=size)
    if (spec.slices, spec.size) != (slices, size):
        raise ValueError(f"--data {root}: the cache has {spec.slices} slices of {spec.size}x{spec.size}, "
                         f"the recipe {slices} of {size}x{size}")
    manifest = build_cache(root, spec, counts=read_manifest(root)["counts"] if built else None, progress=progress)
    counts = manifest["counts"]
    train, held = load_patches(root, "train"), load_patches(root, "validation")
    held_crops = LesionCrops(held, spec, length=4 * len(held), seed=seed + 1)
    validation = torch.stack([held_crops[i] for i in range(len(held_crops))])
    text = (f"Realistic lesions (projdiff.apps.tumor.realistic_lesions) in procedural phantoms "
            f"(projdiff.apps.tumor.phantom), cache {root}: "
            f"{counts['train']} training phantoms (seeds 0..{counts['train'] - 1}), {len(train)} lesions in "
            f"{', '.join(spec.organs)}; phantoms {spec.phantom_shape} voxels of {spec.spacing} mm, noise "
            f"{spec.noise_hu[0]:g}-{spec.noise_hu[1]:g} HU. Items: {spec.slices} slices x {spec.size}x{spec.size} "
            f"crops around a lesion (random shifts, flips, transposes), HU window {list(spec.window)} scaled to "
            f"[-1, 1]; condition = lesion mask stack + organ mask stack. Held out for the denoising loss: "
            f"{len(held_crops)} crops of the {len(held)} lesions of {counts.get('validation', 0)} validation phantoms "
            f"(seeds from {SPLIT_OFFSETS['validation']}).")
    return LesionCrops(train, spec, seed=seed), validation, text
