"""Training recipe of the conditional lesion prior (``projdiff train --preset lesions``).

Items are S-slice crops around realistic lesions in phantoms with the lesion and organ mask stacks
as the condition (``lesion_crops``; the cache in PATH is built on first use). The saved prior
carries a ``LesionPriorCard``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from projdiff.apps.tumor.lesion_crops import LesionCropSpec, lesion_training_data, read_manifest
from projdiff.apps.tumor.lesion_prior import LesionPriorCard
from projdiff.training import Recipe, TrainingData
from projdiff.training.architectures import SMALL


@dataclass(frozen=True)
class LesionCropData:
    """The lesion-crop cache under ``root`` (``--data lesions:PATH``), built there first if missing."""

    root: Path

    def load(self, recipe: Recipe, seed: int) -> TrainingData:
        if len(recipe.shape) != 3 or recipe.condition_channels != 2 * recipe.channels:
            raise ValueError(f"--data lesions:{self.root}: the condition is the lesion and organ mask stacks, "
                             f"2 x {recipe.channels} channels; use --preset lesions")
        train, validation, text = lesion_training_data(self.root, recipe.channels, recipe.size, seed)
        spec = LesionCropSpec.from_dict(read_manifest(self.root)["spec"])
        card = LesionPriorCard(spec.slices, spec.size, spec.window, spec.spacing)
        return TrainingData(train, validation, text, card.to_dict())


# 8 axial slices x 32 x 32 (2.5 x 1.5 x 1.5 mm) conditioned on the lesion and organ mask stacks.
PRESETS = {"lesions": Recipe(SMALL, LesionCropData(Path("runs/data/lesions")), (8, 32, 32), condition_channels=16,
                             batch_size=32, learning_rate=5e-4)}
