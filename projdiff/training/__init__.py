"""Training diffusion priors (diffusers UNets) with accelerate."""

from projdiff.training.presets import PRESETS, TrainingPreset, build_preset
from projdiff.training.trainer import TrainConfig, batch_indices, heldout_loss, train

__all__ = ["PRESETS", "TrainConfig", "TrainingPreset", "batch_indices", "build_preset", "heldout_loss", "train"]
