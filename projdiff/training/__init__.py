"""Training diffusion priors (diffusers UNets) with accelerate; recipes come from the applications."""

from projdiff.training.architectures import ARCHITECTURES, Architecture
from projdiff.training.recipes import DataSource, Recipe, TrainingData, build_model, model_card
from projdiff.training.trainer import TrainConfig, batch_indices, train

__all__ = ["ARCHITECTURES", "Architecture", "DataSource", "Recipe", "TrainConfig", "TrainingData", "batch_indices",
           "build_model", "model_card", "train"]
