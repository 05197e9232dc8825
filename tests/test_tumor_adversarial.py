"""Adversarial training of the lesion prior against the discriminator, with tiny models on small phantoms.

The pieces are checked for what they must guarantee (synthetic crops differ from the real ones only in
the redrawn region, the labels point the right way, gradients reach the generator only through the
adversarial term); the whole loop for its outputs and determinism. Lesion quality is a benchmark's
business (``benchmarks/realism.py``), not a test's.
"""

import json

import numpy as np
import pytest
import torch

from projdiff.priors import load_prior
from projdiff.tasks.projdiff_lesion import ProjDiffLesion
from projdiff.tasks.segmenter import SegmenterConfig, make_segmenter
from projdiff.tasks.tumor_adversarial import (AdversarialConfig, adversarial_finetune, adversarial_loss,
                                              centre_slices, discriminator_loss, propose, redrawn_region,
                                              slice_stacks)
from projdiff.tasks.tumor_discriminator import RealismDiscriminator
from projdiff.data.lesion_crops import LesionCrops, load_patches
from test_lesion_learned import SPACING, SPEC, cache, discriminator_dir, lesion_prior_dir  # noqa: F401 (fixtures)

TINY = SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=SPACING)


@pytest.fixture(scope="module")
def crops(cache):
    data = LesionCrops(load_patches(cache, "train"), SPEC, seed=0)
    return torch.stack([data[i] for i in range(4)])


def test_slice_stacks_line_up_with_centre_slices():
    volume = torch.arange(2 * 5 * 2 * 2, dtype=torch.float32).reshape(2, 5, 2, 2)
    stacks, centres = slice_stacks(volume, 1), centre_slices(volume, 1)
    assert stacks.shape == (6, 3, 2, 2) and centres.shape == (6, 1, 2, 2)
    assert torch.equal(stacks[4], volume[1, 1:4]) and torch.equal(centres[4, 0], volume[1, 2])
    assert torch.equal(stacks[:, 1:2], centres)


def test_proposals_change_only_the_redrawn_region(lesion_prior_dir, crops):
    prior = load_prior(str(lesion_prior_dir))
    s = SPEC.slices
    lesion, organ = crops[:, s : 2 * s], crops[:, 2 * s :]
    region = redrawn_region(lesion, organ, margin=2)
    assert bool((region >= lesion).all()) and bool((region <= organ).all()) and region.sum() > lesion.sum()
    real, fake, mask = propose(prior, crops, s, AdversarialConfig(), torch.Generator().manual_seed(0))
    assert torch.equal(real, crops[:, :s]) and torch.equal(mask, lesion)
    assert torch.equal(fake[region == 0], real[region == 0]) and not torch.equal(fake, real)
    assert fake.requires_grad and float(fake.detach().abs().max()) <= 1.0
    again = propose(prior, crops, s, AdversarialConfig(), torch.Generator().manual_seed(0))[1]
    assert torch.equal(fake, again)


def test_discriminator_labels_point_the_right_way(crops):
    """Trained on its loss alone, a discriminator learns to mark brightened lesion voxels and nothing else."""
    s = SPEC.slices
    real, lesion = crops[:, :s], crops[:, s : 2 * s]
    fake = (real + 0.8 * lesion).clamp(-1, 1)
    model = make_segmenter(TINY, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = discriminator_loss(model, real, fake, lesion).item()
    for _ in range(80):
        loss = discriminator_loss(model, real, fake, lesion)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    with torch.no_grad():
        voxels = centre_slices(lesion, 1) > 0.5
        on_fake = torch.sigmoid(model(slice_stacks((fake + 1) / 2, 1)))[voxels].mean()
        on_real = torch.sigmoid(model(slice_stacks((real + 1) / 2, 1)))[voxels].mean()
        # the generator's loss is low when the discriminator calls its lesion voxels real
        assert adversarial_loss(model, real, lesion) < adversarial_loss(model, fake, lesion)
    assert on_fake > 0.5 > on_real


def test_adversarial_finetune_outputs_and_determinism(cache, lesion_prior_dir, discriminator_dir, tmp_path):
    config = AdversarialConfig(steps=2, batch_size=2, adversarial_weight=0.5, generator_lr=1e-3)
    info = adversarial_finetune(cache, lesion_prior_dir, discriminator_dir, tmp_path / "a", config, progress=False)
    assert set(info["heldout_denoising_loss"]) == {"before", "after"}
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all(np.isfinite(list(r.values())).all() for r in log)
    backend = ProjDiffLesion.load(str(tmp_path / "a" / "prior"), steps=1)
    assert backend.prior.metadata["adversarial"]["config"]["steps"] == 2
    assert backend.prior.metadata["slices"] == SPEC.slices
    RealismDiscriminator.load(tmp_path / "a" / "discriminator")
    adversarial_finetune(cache, lesion_prior_dir, discriminator_dir, tmp_path / "b", config, progress=False)
    plain = AdversarialConfig(steps=2, batch_size=2, adversarial_weight=0.0, generator_lr=1e-3)
    adversarial_finetune(cache, lesion_prior_dir, discriminator_dir, tmp_path / "c", plain, progress=False)
    weights = {name: load_prior(str(tmp_path / name / "prior")).unet.state_dict() for name in "abc"}
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])           # same seed, same bits
    assert any(not torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])       # the adversarial term acts
    with pytest.raises(ValueError, match="adversarial training: expected"):
        AdversarialConfig(sigma_range=(0.5, 0.1))
