"""Shared fixtures: a tiny randomly initialised diffusers prior saved to disk (no download)."""

import pytest
import torch


def make_tiny_prior(channels: int = 1, sample_size: int = 32):
    from diffusers import DDPMScheduler, UNet2DModel

    from projdiff.priors import DiffusersPrior

    with torch.random.fork_rng():
        torch.manual_seed(0)
        unet = UNet2DModel(sample_size=sample_size, in_channels=channels, out_channels=channels,
                           block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1,
                           down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
    return DiffusersPrior(unet, DDPMScheduler())


@pytest.fixture(scope="session")
def tiny_prior_dir(tmp_path_factory):
    """A folder holding a 1-channel, 32x32-trained-size random UNet prior in diffusers format."""
    folder = tmp_path_factory.mktemp("priors") / "tiny"
    make_tiny_prior().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_rgb_prior_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("priors") / "tiny_rgb"
    make_tiny_prior(channels=3).save_pretrained(folder)
    return folder


AUDIO_STEMS = ("soprano", "alto", "tenor", "bass")


@pytest.fixture(scope="session")
def tiny_audio_prior_dir(tmp_path_factory):
    """A random 4-stem UNet1D prior (8 kHz, 256-sample segments) with audio metadata."""
    from diffusers import DDPMScheduler

    from projdiff.apps.audio.recipes import AUDIO_TINY
    from projdiff.apps.audio.stem_prior import StemPriorCard
    from projdiff.priors import DiffusersPrior

    unet = AUDIO_TINY.build(channels=4, condition_channels=0, sample_size=256, seed=0)
    folder = tmp_path_factory.mktemp("priors") / "tiny_audio"
    card = StemPriorCard(sample_rate=8000, stems=AUDIO_STEMS, segment=256, waveform_scale=0.25)
    DiffusersPrior(unet, DDPMScheduler(), metadata=card.to_dict()).save_pretrained(folder)
    return folder
