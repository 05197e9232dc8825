"""The offline photographs: which ones, their split, their manifest, and the multi-scale training crops."""

import json

import numpy as np
import torch

from projdiff.apps.restoration.image_datasets import MultiScaleCrops, _as_pil, pyramid
from projdiff.apps.restoration.photos import (PLASMA_PHOTOGRAPHS, SKIMAGE_PHOTOGRAPHS, TEST_COUNT, VALIDATION_COUNT,
                                              benchmark_crop, build_photos, load_split, split_of)


def test_the_split_is_by_photograph_and_does_not_depend_on_order():
    names = [f"photo-{i}" for i in range(20)]
    split = split_of(names)
    assert split == split_of(list(reversed(names)))
    counts = {s: sum(v == s for v in split.values()) for s in ("test", "validation", "train")}
    assert counts == {"test": TEST_COUNT, "validation": VALIDATION_COUNT, "train": 20 - TEST_COUNT - VALIDATION_COUNT}


def test_build_writes_every_photograph_once_with_its_licence(tmp_path):
    manifest = build_photos(tmp_path, short_side=64, progress=False)
    photos = manifest["photos"]
    assert len(photos) == 12 + len(PLASMA_PHOTOGRAPHS) + len(SKIMAGE_PHOTOGRAPHS)
    assert all(e["licence"] and min(e["stored_size"]) == 64 for e in photos.values())
    assert "plasma-Autumn" not in photos and "Autumn" in manifest["excluded_as_rendered"]
    stamp = (tmp_path / photos["skimage-camera"]["file"]).stat().st_mtime_ns
    again = build_photos(tmp_path, short_side=64, progress=False)             # a rerun writes nothing new
    assert again == json.loads((tmp_path / "manifest.json").read_text())
    assert (tmp_path / photos["skimage-camera"]["file"]).stat().st_mtime_ns == stamp
    test = load_split(tmp_path, "test")
    assert len(test) == TEST_COUNT and all(a.dtype == np.uint8 and a.shape[2] == 3 for a in test.values())
    assert benchmark_crop(next(iter(test.values())), 32).shape == (32, 32, 3)


def test_multi_scale_crops_are_seeded_turned_and_cover_several_scales():
    photo = (np.random.default_rng(0).random((300, 451, 3)) * 255).astype(np.uint8)
    assert [level.size for level in pyramid(_as_pil(photo), 96)] == [(451, 300), (319, 212), (225, 150), (159, 106)]
    data = MultiScaleCrops([photo], 64, length=50, seed=3)
    assert len(data.images) == 4 and data[7].shape == (3, 64, 64)
    assert torch.equal(data[7], MultiScaleCrops([photo], 64, length=50, seed=3)[7])
    data.set_epoch(1)
    assert not torch.equal(data[7], MultiScaleCrops([photo], 64, length=50, seed=3)[7])
