"""The second, optional judge: a real-versus-synthetic discriminator trained against the lesion generator.

FreeTumor pairs its segmentation "Turing test" with a discriminator that tells real lesions from
synthetic ones. Ours is voxel-wise (PatchGAN-like, one decision per voxel) and reuses the 2.5D
``SliceSegmenter`` of ``projdiff.apps.tumor.segmenter``: it is trained to mark the voxels of *synthetic*
lesions and to leave real lesions and healthy tissue unmarked. Training pairs are twins: each real
lesion patch of the lesion-crop cache (``projdiff.apps.tumor.lesion_crops``, train split) and the same
patch with that lesion redrawn by a lesion backend (the ProjDiff backend with the lesion prior), so
position, size and surroundings carry no label information: only the lesion's appearance does.

Adversarial only in half: the discriminator is trained on the frozen generator's samples; the
generator (a diffusion prior trained by denoising) is not updated against it. Retrain it when the
lesion prior changes. ``projdiff.apps.tumor.adversarial`` trains both against each other
(experimental: it did not make the lesions more realistic here).

Score of a lesion (it sees only the CT around the lesion; the mask selects the voxels scored, as for
``projdiff.apps.tumor.judge``): ``realism`` = the share of the lesion's voxels *not* judged
synthetic (probability <= 0.5); ``mean_synthetic_probability`` beside it. With ``--discriminator``
the quality filter accepts a lesion when the judge accepts it *and* ``realism`` reaches
``--realism-threshold`` (default 0.5).

Train and save (folder: ``segmenter.json`` + ``model.safetensors``)::

    projdiff tumor train-discriminator --data runs/data/lesions --prior runs/lesion-prior \\
        --out runs/tumor-discriminator --lesions 200 --steps 1500
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from projdiff.apps.tumor.judge import PROBABILITY_CUT, lesion_probabilities
from projdiff.apps.tumor.lesion_backend import LesionSynthesizer
from projdiff.apps.tumor.lesion_crops import LesionCropSpec, LesionPatch, load_patches, read_manifest
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion
from projdiff.apps.tumor.segmenter import (FrozenSegmenter, SegmenterConfig, SegVolume, SlicePatches, SliceSegmenter,
                                           make_segmenter, predict_slices, save_segmenter, train_segmenter)
from projdiff.utils.seeds import derive_seed

DISCRIMINATOR_KIND = "tumor-discriminator"


class RealismDiscriminator(FrozenSegmenter):
    """A frozen voxel-wise real-versus-synthetic discriminator (see the module docstring);
    ``RealismDiscriminator.load(name)``."""

    kind, flag = DISCRIMINATOR_KIND, "--discriminator"

    def score(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, spacing: Sequence[float],
              organ_mask: np.ndarray | None = None) -> dict:
        """``{"realism", "mean_synthetic_probability"}`` (both in [0, 1]) of the lesion ``lesion_mask``
        (D, H, W) in the CT ``ct_hu`` (D, H, W, HU, voxels ``spacing`` mm), organ-relative with the host
        organ's ``organ_mask`` (``judge.lesion_probabilities``); ValueError for an empty mask."""
        probability = lesion_probabilities(self.model, ct_hu, lesion_mask, spacing, "discriminator", organ_mask)
        return {"realism": float((probability <= PROBABILITY_CUT).mean()),
                "mean_synthetic_probability": float(probability.mean())}


def twin_volumes(patches: Sequence[LesionPatch], backend: LesionSynthesizer, config: SegmenterConfig,
                 seed: int = 0, progress: bool = True) -> list[SegVolume]:
    """Training volumes: each patch as it is (target empty, patches centred on its real lesion) and its
    twin with the lesion redrawn by ``backend`` (target = the lesion; patches centred on it or on the organ)."""
    volumes = []
    for k, patch in enumerate(tqdm(patches, desc="synthetic twins", unit="lesion", disable=not progress)):
        real_hu = patch.hu.astype(np.float32)
        rng = np.random.default_rng(derive_seed("discriminator-twin", seed, k))
        fake_hu = backend.synthesize(real_hu, patch.lesion, patch.organ, rng)
        nothing = np.zeros_like(patch.lesion)
        volumes.append(SegVolume(config.hu_window.to_unit(real_hu), nothing, patch.lesion))
        volumes.append(SegVolume(config.hu_window.to_unit(fake_hu), patch.lesion, patch.organ))
    return volumes


def evaluate_discriminator(model: SliceSegmenter, volumes: Sequence[SegVolume]) -> dict:
    """Mean ``realism`` of held-out real lesions and of their synthetic twins (volumes as ``twin_volumes``)."""
    real, fake = [], []
    for volume in volumes:
        synthetic = bool(volume.tumor.any())
        lesion = volume.tumor if synthetic else volume.organ
        probability = predict_slices(model, volume.unit)[lesion]
        (fake if synthetic else real).append(float((probability <= PROBABILITY_CUT).mean()))
    return {"lesions": len(real), "mean_realism_real": float(np.mean(real)),
            "mean_realism_synthetic": float(np.mean(fake))}


def train_discriminator(data: str | Path, prior: str, out: str | Path, lesions: int, steps: int,
                        batch_size: int = 32, learning_rate: float = 1e-3, seed: int = 0, backend_steps: int = 25,
                        config: SegmenterConfig | None = None, held_out: int = 32, progress: bool = True,
                        device=None, dtype=None) -> dict:
    """Train a discriminator on ``lesions`` real patches of the cache ``data`` and their twins drawn by the
    ProjDiff backend with the lesion prior ``prior`` (``backend_steps`` noise levels); save it to ``out``.

    The first ``held_out`` validation patches and their twins give the ``validation`` figures.
    ``device`` (default the CPU) runs the prior (with weights of ``dtype``) and the training.
    Returns the saved ``info``.
    """
    spec = LesionCropSpec.from_dict(read_manifest(data)["spec"])
    config = config or SegmenterConfig(window=spec.window, spacing=spec.spacing)
    backend = ProjDiffLesion.load(prior, steps=backend_steps, spacing=spec.spacing, device=device, dtype=dtype)
    patches = load_patches(data, "train")
    chosen = np.random.default_rng(derive_seed("discriminator-patches", seed)).permutation(len(patches))[:lesions]
    model = make_segmenter(config, seed).to(device or "cpu")
    train = SlicePatches(twin_volumes([patches[i] for i in sorted(chosen)], backend, config, seed, progress),
                         config, seed=seed)
    info = {"data": str(data), "prior": backend.checkpoint, "backend_steps": backend_steps, "lesions": len(chosen),
            "seed": seed, "learning_rate": learning_rate, "parameters": sum(p.numel() for p in model.parameters()),
            **train_segmenter(model, train, steps, batch_size, learning_rate, progress)}
    held = load_patches(data, "validation")[:held_out]
    if held:
        info["validation"] = evaluate_discriminator(model, twin_volumes(held, backend, config, seed + 1, progress))
    save_segmenter(out, model, DISCRIMINATOR_KIND, info)
    return info
