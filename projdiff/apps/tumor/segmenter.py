"""A small 2.5D tumor segmenter: a U-Net that reads 2c + 1 adjacent axial slices and predicts the
tumor probability of the centre slice.

It is the quality filter's judge (``tumor_judge.py``) and the downstream model of the tumor
benchmark (``benchmarks/tumor.py``). Inputs are HU mapped to window units [0, 1] by the HU window
(default [-175, 250]); the network rescales them to [-1, 1]. Three resolution levels (two 2x2
poolings), two 3x3 convolutions with GroupNorm and SiLU per block, 266 K parameters at the
default widths (24, 48, 96). In-plane sizes are padded to multiples of 4.

Training items (``SlicePatches``) are (2c + 2, P, P) tensors: 2c + 1 input slices, then the centre
slice's tumor mask. Half of them (``positive``) are centred near a random tumor voxel, the others
on a random organ voxel outside tumors, with random flips and transposes. Item ``i`` depends only
on ``(seed, i)``; the loss is binary cross-entropy plus soft Dice.

Folder layout: ``segmenter.json`` (``{"kind", "config", "info"}``) and ``model.safetensors``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from projdiff.apps.tumor.ct.crops import crop_padded
from projdiff.apps.tumor.ct.hu import HUWindow
from projdiff.utils.bundled import model_dir
from projdiff.utils.files import write_json
from projdiff.utils.provenance import checkpoint_info
from projdiff.utils.seeds import derive_seed

CONFIG_FILE, WEIGHTS_FILE = "segmenter.json", "model.safetensors"
SIZE_MULTIPLE = 4


@dataclass(frozen=True)
class SegmenterConfig:
    """Architecture and data conventions of a ``SliceSegmenter``.

    Parameters
    ----------
    context : int
        c, slices above and below the centre slice (default 1: 3 input slices).
    widths : tuple of 3 ints
        Channels of the three levels (default 24, 48, 96).
    patch : int
        Side of the square training patches, voxels (default 48; a multiple of 4).
    window : (float, float)
        HU window mapped to [0, 1] (default -175, 250).
    spacing : (float, float, float)
        Voxel size of the training data along (D, H, W), mm; other CTs are resampled to it.
    """

    context: int = 1
    widths: tuple[int, int, int] = (24, 48, 96)
    patch: int = 48
    window: tuple[float, float] = (-175.0, 250.0)
    spacing: tuple[float, float, float] = (2.5, 1.5, 1.5)

    def __post_init__(self) -> None:
        if self.context < 0 or len(self.widths) != 3 or self.patch % SIZE_MULTIPLE:
            raise ValueError(f"segmenter: expected context >= 0, 3 widths and a patch multiple of {SIZE_MULTIPLE}, "
                             f"got {self.context}, {self.widths}, {self.patch}")

    @property
    def hu_window(self) -> HUWindow:
        return HUWindow(*self.window)


def _block(inputs: int, outputs: int) -> nn.Sequential:
    groups = 8 if outputs % 8 == 0 else 1
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.GroupNorm(groups, outputs), nn.SiLU(),
                         nn.Conv2d(outputs, outputs, 3, padding=1), nn.GroupNorm(groups, outputs), nn.SiLU())


class SliceSegmenter(nn.Module):
    """(N, 2c + 1, H, W) slices in window units [0, 1] -> (N, 1, H, W) tumor logits (H, W multiples of 4)."""

    def __init__(self, config: SegmenterConfig = SegmenterConfig()):
        super().__init__()
        a, b, c = config.widths
        self.config = config
        self.down0, self.down1, self.middle = _block(2 * config.context + 1, a), _block(a, b), _block(b, c)
        self.up1, self.up0 = _block(c + b, b), _block(b + a, a)
        self.head = nn.Conv2d(a, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool, up = nn.functional.avg_pool2d, nn.functional.interpolate
        x0 = self.down0(2.0 * x - 1.0)
        x1 = self.down1(pool(x0, 2))
        x2 = self.middle(pool(x1, 2))
        y1 = self.up1(torch.cat([up(x2, scale_factor=2.0), x1], dim=1))
        return self.head(self.up0(torch.cat([up(y1, scale_factor=2.0), x0], dim=1)))


def make_segmenter(config: SegmenterConfig = SegmenterConfig(), seed: int = 0) -> SliceSegmenter:
    """A freshly initialised segmenter (weights from ``seed``; the global generator is left alone)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SliceSegmenter(config)


@dataclass(eq=False)
class SegVolume:
    """A training volume: ``unit`` (D, H, W) float32 window units, ``tumor`` and ``organ`` bool masks."""

    unit: np.ndarray
    tumor: np.ndarray
    organ: np.ndarray


class SlicePatches(Dataset):
    """Random 2.5D training patches of ``volumes`` (see the module docstring); ``length`` items."""

    def __init__(self, volumes: Sequence[SegVolume], config: SegmenterConfig = SegmenterConfig(),
                 positive: float = 0.5, length: int = 10 ** 9, seed: int = 0):
        if not volumes:
            raise ValueError("segmenter data: no volumes")
        self.volumes, self.config, self.positive, self.length, self.seed = list(volumes), config, positive, length, seed
        self.pools = [(np.flatnonzero(v.tumor), np.flatnonzero(v.organ & ~v.tumor)) for v in self.volumes]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        cfg = self.config
        rng = np.random.default_rng(derive_seed("slice-patches", self.seed, int(index)))
        k = int(rng.integers(len(self.volumes)))
        volume, (tumor, organ) = self.volumes[k], self.pools[k]
        pool = tumor if (rng.random() < self.positive and tumor.size) or not organ.size else organ
        centre = np.unravel_index(int(pool[rng.integers(pool.size)]), volume.unit.shape) if pool.size else \
            tuple(int(rng.integers(n)) for n in volume.unit.shape)
        shift = rng.integers(-(cfg.patch // 4), cfg.patch // 4 + 1, 2)
        top, left = (int(c) - cfg.patch // 2 + int(s) for c, s in zip(centre[1:], shift))
        d = int(centre[0])
        slices = np.clip(np.arange(d - cfg.context, d + cfg.context + 1), 0, volume.unit.shape[0] - 1)
        size = (1, cfg.patch, cfg.patch)
        image = np.concatenate([crop_padded(volume.unit, (s, top, left), size) for s in slices])
        target = crop_padded(volume.tumor, (d, top, left), size, False).astype(np.float32)
        stack = np.concatenate([image, target])
        for axis in (1, 2):
            if rng.random() < 0.5:
                stack = np.flip(stack, axis)
        if rng.random() < 0.5:
            stack = stack.transpose(0, 2, 1)
        return torch.from_numpy(np.ascontiguousarray(stack, np.float32))


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus (1 - soft Dice over the batch)."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    soft_dice = (2 * (prob * target).sum() + 1.0) / (prob.sum() + target.sum() + 1.0)
    return bce + 1.0 - soft_dice


SCHEDULES = ("constant", "poly")


def train_segmenter(model: SliceSegmenter, data: Dataset, steps: int, batch_size: int = 32, learning_rate: float = 1e-3,
                    progress: bool = True, schedule: str = "constant") -> dict:
    """Train ``model`` for ``steps`` AdamW steps; step ``s`` uses items ``s * batch_size ...``.

    ``schedule``: ``"constant"`` keeps ``learning_rate`` (the bundled judge and discriminator were trained
    so); ``"poly"`` is nnU-Net's decay, ``learning_rate * (1 - s / steps) ** 0.9`` at step ``s``, which ends
    training at a settled point rather than a snapshot of a noisy walk.

    Returns ``{"steps", "batch_size", "seconds", "seconds_per_step", "loss"}`` (``loss``: mean of the
    last 50 steps).
    """
    from tqdm.auto import tqdm

    if schedule not in SCHEDULES:
        raise ValueError(f"segmenter schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    decay = (lambda s: (1.0 - s / steps) ** 0.9) if schedule == "poly" else (lambda s: 1.0)
    device = next(model.parameters()).device  # batches go where the model is
    model.train()
    losses, started = [], time.perf_counter()
    for step in tqdm(range(steps), desc="segmenter", unit="step", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * decay(step)
        batch = torch.stack([data[(step * batch_size + j) % len(data)] for j in range(batch_size)]).to(device)
        loss = segmentation_loss(model(batch[:, :-1]), batch[:, -1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    seconds = time.perf_counter() - started
    return {"steps": steps, "batch_size": batch_size, "seconds": round(seconds, 2),
            "seconds_per_step": round(seconds / max(steps, 1), 4),
            "loss": float(np.mean(losses[-50:])) if losses else None}


@torch.no_grad()
def predict_slices(model: SliceSegmenter, unit: np.ndarray, slices: Sequence[int] | None = None,
                   batch: int = 8) -> np.ndarray:
    """Tumor probabilities of ``slices`` (default all) of ``unit`` (D, H, W) window units.

    Returns float32 of shape (len(slices), H, W); neighbours beyond the volume repeat its edge slice.
    """
    depth, height, width = unit.shape
    slices = list(range(depth)) if slices is None else [int(s) for s in slices]
    pad = [(0, 0), (0, -height % SIZE_MULTIPLE), (0, -width % SIZE_MULTIPLE)]
    padded = torch.from_numpy(np.pad(np.asarray(unit, np.float32), pad, mode="edge"))
    c = model.config.context
    device = next(model.parameters()).device
    out = []
    for first in range(0, len(slices), batch):
        rows = [np.clip(np.arange(s - c, s + c + 1), 0, depth - 1) for s in slices[first:first + batch]]
        x = torch.stack([padded[torch.from_numpy(r)] for r in rows]).to(device)
        out.append(torch.sigmoid(model(x))[:, 0, :height, :width].float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, height, width), np.float32)


def save_segmenter(folder: str | Path, model: SliceSegmenter, kind: str, info: dict | None = None) -> None:
    """Write ``segmenter.json`` and ``model.safetensors`` into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE))
    write_json(folder / CONFIG_FILE, {"kind": kind, "config": json.loads(json.dumps(asdict(model.config))),
                                      "info": dict(info or {})})


def load_segmenter(folder: str | Path, kind: str) -> tuple[SliceSegmenter, dict]:
    """``(model, info)`` from a folder written by ``save_segmenter``; ValueError if it holds another kind."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{folder}: not a segmenter folder (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
    meta = json.loads((folder / CONFIG_FILE).read_text())
    if meta.get("kind") != kind:
        raise ValueError(f"{folder}: holds a {meta.get('kind')!r} model, expected {kind!r}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
    model = SliceSegmenter(SegmenterConfig(**values))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return model.eval(), meta.get("info", {})


def load_frozen(name: str | Path, kind: str, flag: str) -> tuple[SliceSegmenter, dict]:
    """``(model, checkpoint info)`` of a saved segmenter of ``kind`` from a folder or ``bundled:NAME``.

    FileNotFoundError names ``flag`` and ``name`` when there is no such folder; ValueError when the
    folder holds another kind of model.
    """
    folder = model_dir(name)
    if folder is None:
        raise FileNotFoundError(f"{flag} {name}: no such folder")
    model, _ = load_segmenter(folder, kind)
    return model, checkpoint_info(name)


@dataclass(eq=False)
class FrozenSegmenter:
    """A saved segmenter of one ``kind``, loaded to score lesions (the judge, the discriminator)."""

    model: SliceSegmenter
    checkpoint: dict
    kind: ClassVar[str]
    flag: ClassVar[str]

    @classmethod
    def load(cls, name: str | Path):
        """From a folder or ``bundled:NAME``; FileNotFoundError / ValueError name it when it is not one."""
        return cls(*load_frozen(name, cls.kind, cls.flag))
