"""Training diffusion priors (diffusers UNets) with accelerate."""

from projdiff.training.presets import MODELS, PRESETS, Recipe, build_data, build_model
from projdiff.training.trainer import TrainConfig, batch_indices, heldout_loss, train

__all__ = ["MODELS", "PRESETS", "Recipe", "TrainConfig", "batch_indices", "build_data", "build_model",
           "heldout_loss", "train"]
