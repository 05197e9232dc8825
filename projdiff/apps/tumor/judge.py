"""The quality filter's judge: a frozen tumor segmenter scores each synthetic lesion.

The judge is a ``SliceSegmenter`` (``projdiff.apps.tumor.segmenter``) trained on realistic lesions in
phantoms (the lesion-crop cache of ``projdiff.apps.tumor.lesion_crops``: 2.5D patches centred on lesion
voxels or on organ voxels around them). It is never trained on synthetic lesions, so it cannot
learn the backend's own artefacts (FreeTumor's segmentation-based "Turing test", our own
implementation).

Score of a synthetic lesion: the judge sees only the CT (a crop around the lesion, resampled to its
training spacing when the CT's differs, its HU mapped organ-relative when the organ's mask is given,
as the pipeline does: ``local_normalisation``); the lesion mask only selects the voxels that are scored.
``fraction`` = the share of the lesion's voxels with a predicted tumor probability above 0.5;
``mean_probability`` is reported beside it. The pipeline accepts a lesion when ``fraction`` reaches
the threshold (default 0.5; ``projdiff.apps.tumor.synthesis``).

Train and save (folder: ``segmenter.json`` + ``model.safetensors``)::

    projdiff tumor train-judge --data runs/data/lesions --out runs/tumor-judge --steps 3000
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from projdiff.apps.tumor.ct.crops import resample, same_spacing, shape_at
from projdiff.apps.tumor.lesion_backend import lesion_box
from projdiff.apps.tumor.lesion_crops import LesionCropSpec, load_patches, read_manifest
from projdiff.apps.tumor.local_normalisation import LocalNormalisation
from projdiff.apps.tumor.segmenter import (FrozenSegmenter, SegmenterConfig, SegVolume, SlicePatches, SliceSegmenter,
                                           make_segmenter, predict_slices, save_segmenter, train_segmenter)

JUDGE_KIND = "tumor-judge"
PROBABILITY_CUT = 0.5
INPLANE_CONTEXT = 16  # voxels of the judge's grid around the lesion that it sees


class TumorJudge(FrozenSegmenter):
    """A frozen segmenter that scores lesions (see the module docstring); ``TumorJudge.load(name)``."""

    kind, flag = JUDGE_KIND, "--judge"

    def score(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, spacing: Sequence[float],
              organ_mask: np.ndarray | None = None) -> dict:
        """Score the lesion ``lesion_mask`` (D, H, W) of the CT ``ct_hu`` (D, H, W, HU; voxels ``spacing`` mm),
        organ-relative with the host organ's ``organ_mask`` (see ``lesion_probabilities``).

        Returns ``{"fraction", "mean_probability"}``, both in [0, 1]; ValueError for an empty mask.
        """
        probability = lesion_probabilities(self.model, ct_hu, lesion_mask, spacing, "judge", organ_mask)
        return {"fraction": float((probability > PROBABILITY_CUT).mean()),
                "mean_probability": float(probability.mean())}


def lesion_probabilities(model: SliceSegmenter, ct_hu: np.ndarray, lesion_mask: np.ndarray,
                         spacing: Sequence[float], name: str, organ_mask: np.ndarray | None = None) -> np.ndarray:
    """The model's probabilities at the lesion's voxels (1D float32), seeing only a crop of the CT.

    The crop spans the lesion plus ``INPLANE_CONTEXT`` voxels (of the model's grid) in-plane and the
    model's slice context; it is resampled to the model's spacing when the CT's differs, and the
    lesion mask with it. With the host organ's ``organ_mask`` the crop's HU are first mapped so that
    the organ around the lesion lies in the training data's ranges (``LocalNormalisation``, measured on
    the crop's organ voxels outside the lesion; an identity for organs like the phantoms'), as the
    lesion prior sees them. ``name`` names the model in the error raised for an empty mask.
    """
    if not lesion_mask.any():
        raise ValueError(f"{name}: the lesion mask is empty")
    config = model.config
    ratio = [s / t for s, t in zip(spacing, config.spacing)]
    margin = [config.context + 1] + [int(np.ceil(INPLANE_CONTEXT / r)) for r in ratio[1:]]
    box = lesion_box(lesion_mask, margin)
    hu, lesion = ct_hu[box], lesion_mask[box]
    if organ_mask is not None:
        hu = LocalNormalisation.around(hu, organ_mask[box], lesion).forward(hu)
    unit = config.hu_window.to_unit(hu)
    if not same_spacing(spacing, config.spacing):
        shape = shape_at(unit.shape, spacing, config.spacing)
        unit, weights = resample(unit, shape), resample(lesion, shape)
        lesion = weights >= min(0.5, float(weights.max()))
    rows = np.flatnonzero(lesion.any(axis=(1, 2)))
    return predict_slices(model, unit, rows)[lesion[rows]]


def judge_volumes(patches, config: SegmenterConfig) -> list[SegVolume]:
    """Lesion-crop patches (``projdiff.apps.tumor.lesion_crops.LesionPatch``) as segmenter training volumes."""
    return [SegVolume(config.hu_window.to_unit(p.hu), p.lesion, p.organ) for p in patches]


def evaluate_judge(model: SliceSegmenter, volumes: Sequence[SegVolume]) -> dict:
    """On held-out real lesions: mean ``fraction`` over lesions and the share of organ voxels (outside
    lesions, within the patches) predicted as tumor."""
    fractions, false_positive = [], []
    for volume in volumes:
        probability = predict_slices(model, volume.unit)
        fractions.append(float((probability[volume.tumor] > PROBABILITY_CUT).mean()))
        false_positive.append(float((probability[volume.organ & ~volume.tumor] > PROBABILITY_CUT).mean()))
    return {"lesions": len(volumes), "mean_fraction_real_lesions": float(np.mean(fractions)),
            "organ_false_positive_rate": float(np.mean(false_positive))}


def train_judge(data: str | Path, out: str | Path, steps: int, batch_size: int = 32, learning_rate: float = 1e-3,
                seed: int = 0, config: SegmenterConfig | None = None, progress: bool = True, device=None) -> dict:
    """Train a judge on the training split of the lesion-crop cache ``data``; save it to ``out``.

    The config's spacing and window default to the cache's; ``device`` is where it trains (default
    the CPU). Returns the saved ``info`` (training time, seconds per step, validation figures on
    the validation split).
    """
    spec = LesionCropSpec.from_dict(read_manifest(data)["spec"])
    config = config or SegmenterConfig(window=spec.window, spacing=spec.spacing)
    model = make_segmenter(config, seed).to(device or "cpu")
    train = SlicePatches(judge_volumes(load_patches(data, "train"), config), config, seed=seed)
    info = {"data": str(data), "seed": seed, "learning_rate": learning_rate,
            "parameters": sum(p.numel() for p in model.parameters()),
            **train_segmenter(model, train, steps, batch_size, learning_rate, progress)}
    held = load_patches(data, "validation")
    if held:
        info["validation"] = evaluate_judge(model, judge_volumes(held, config))
    save_segmenter(out, model, JUDGE_KIND, info)
    return info
