"""Training data of image priors: folders and patches hold out files; every format restore reads trains."""

import numpy as np
import pytest
import torch
from PIL import Image

from projdiff.apps.restoration.recipes import PRESETS, ImageFolderData
from projdiff.cli import main
from projdiff.cli.train import data_source
from projdiff.training import Recipe
from projdiff.training.architectures import TINY


def _photos(folder, suffix=".png", count=10):
    for i in range(count):
        pixels = (np.random.default_rng(i).random((40, 50, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}{suffix}")


def test_folder_and_patch_sources_hold_out_files(tmp_path):
    _photos(tmp_path)
    for kind in ("folder", "patches"):
        source = data_source(f"{kind}:{tmp_path}")
        data = source.load(Recipe(TINY, source, (3, 16, 16)), seed=0)
        train_set, validation, text = data.train, data.validation, data.description
        assert train_set[0].shape == (3, 16, 16) and validation.shape == (256, 3, 16, 16)
        assert "9 images" in text and "1 other images held out" in text
        assert float(train_set[3].min()) >= -1 and torch.equal(train_set[3], train_set[3])
    with pytest.raises(ValueError, match="--data: expected fashion-mnist"):
        data_source("photos")


def test_a_bmp_folder_trains(tmp_path):
    """One suffix list: training reads what restore reads (a .bmp used to crash --data patches:DIR)."""
    (tmp_path / "photos").mkdir()
    _photos(tmp_path / "photos", ".bmp", count=3)
    for patches in (False, True):
        source = ImageFolderData(tmp_path / "photos", patches=patches)
        assert source.load(Recipe(TINY, source, (1, 16, 16)), seed=0).train[0].shape == (1, 16, 16)
    code = main(["train", "--model", "tiny", "--data", f"patches:{tmp_path / 'photos'}", "--image-size", "16",
                 "--channels", "3", "--steps", "1", "--batch-size", "2", "--out", str(tmp_path / "prior"), "--quiet"])
    assert code == 0 and (tmp_path / "prior" / "unet" / "config.json").is_file()


def test_the_preset_is_the_bundled_prior_recipe():
    recipe = PRESETS["fashion-mnist-32"]
    assert recipe.architecture.name == "small" and recipe.shape == (1, 32, 32) and recipe.batch_size == 64
