"""MSDM checkpoints: a round trip through the original network (audio-diffusion-pytorch 0.0.43, the version
MSDM pins) with random weights, saved as MSDM's Lightning checkpoints are, loaded by ``load_prior``."""

import numpy as np
import pytest
import soundfile
import torch

from projdiff.cli import main
from projdiff.priors import MSDMPrior, load_prior
from projdiff.priors.msdm import load_msdm_prior

adp = pytest.importorskip("audio_diffusion_pytorch", reason="the test extra pins audio-diffusion-pytorch==0.0.43")

# A small MSDM-like network: 2 patch blocks, 3 levels with factors 2, 4, 2, attention on the last two.
SMALL = dict(in_channels=4, channels=16, patch_factor=4, patch_blocks=2, multipliers=[1, 2, 2, 4], factors=[2, 4, 2],
             num_blocks=[1, 2, 1], attentions=[False, True, True], attention_heads=2, attention_features=8,
             attention_multiplier=2, resnet_groups=4, kernel_multiplier_downsample=2, use_nearest_upsample=False,
             use_skip_scale=True, use_attention_bottleneck=True, diffusion_sigma_data=0.2,
             diffusion_dynamic_threshold=0.0)


class AttributeDict(dict):
    """Stands for pytorch_lightning's AttributeDict, the type of a Lightning checkpoint's hyper_parameters."""


def original(seed: int = 0, **changes):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = adp.AudioDiffusionModel(**{**SMALL, **changes},
                                        diffusion_sigma_distribution=adp.LogNormalDistribution(mean=-3.0, std=1.0))
    for p in model.parameters():  # random non-trivial norms and embeddings, not the initial ones and zeros
        with torch.no_grad():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model.eval()


def save_like_msdm(model, path, **changes):
    """What MSDM's Lightning 'Model' writes: state_dict under 'model.', hyper-parameters with foreign objects."""
    hparams = AttributeDict(learning_rate=1e-4, beta1=0.9, beta2=0.99, **{**SMALL, **changes},
                            diffusion_sigma_distribution=adp.LogNormalDistribution(mean=-3.0, std=1.0))
    torch.save({"epoch": 419, "global_step": 1000, "pytorch-lightning_version": "1.7.7",
                "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hparams_name": "kwargs", "hyper_parameters": hparams}, path)
    return path


@pytest.fixture(scope="module")
def model_and_file(tmp_path_factory):
    model = original()
    return model, save_like_msdm(model, tmp_path_factory.mktemp("msdm") / "epoch=419-valid_loss=0.014.ckpt")


def test_outputs_agree_with_the_original_network(model_and_file):
    model, path = model_and_file
    prior = load_prior(path)
    assert isinstance(prior, MSDMPrior) and prior.sigma_data == 0.2 and prior.shape == (4, None)
    x = 0.3 * torch.randn(3, 4, 512, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        time = torch.tensor([-2.0, -0.5, 0.3])
        torch.testing.assert_close(prior.unet(x, time), model.unet(x, time), atol=2e-5, rtol=1e-4)
        for sigma in (1e-3, 0.05, 0.5, 3.0):
            expected = model.diffusion.denoise_fn(x, sigma=sigma)
            torch.testing.assert_close(prior.denoise(x, torch.full((3,), sigma)), expected, atol=2e-5, rtol=1e-4)
    assert prior.metadata["stems"] == ["bass", "drums", "guitar", "piano"] and prior.metadata["sample_rate"] == 22050


def test_architecture_variants_are_inferred(tmp_path):
    changes = dict(channels=32, patch_blocks=1, patch_factor=8, use_nearest_upsample=True,
                   use_attention_bottleneck=False, attention_multiplier=4, use_skip_scale=False)
    model = original(seed=3, **changes)
    prior = load_msdm_prior(save_like_msdm(model, tmp_path / "variant.ckpt", **changes), segment=4096)
    x = 0.2 * torch.randn(2, 4, 256, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(prior.denoise(x, torch.full((2,), 0.3)), model.diffusion.denoise_fn(x, sigma=0.3),
                                   atol=2e-5, rtol=1e-4)


def test_plain_state_dicts_load_too(tmp_path):
    model = original(seed=4)
    torch.save(model.unet.state_dict(), tmp_path / "unet.ckpt")
    prior = load_prior(tmp_path / "unet.ckpt")  # no hyper-parameters: MSDM's defaults where shapes cannot tell
    assert prior.unet.arch.attention_heads == 8 and prior.unet.arch.channels == 16


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not a checkpoint"), "not a PyTorch checkpoint"),
    (lambda p: torch.save({"state_dict": {"layer.weight": torch.zeros(2)}}, p), "not an MSDM checkpoint"),
    (lambda p: torch.save({"state_dict": {f"model.{k}": v for k, v in original(seed=5, in_channels=1).state_dict()
                                          .items()}}, p), "1-channel model"),
])
def test_wrong_files_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "wrong.ckpt"
    make(path)
    with pytest.raises(ValueError, match=message) as info:
        load_prior(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        load_prior(tmp_path / "missing.ckpt")


def test_a_checkpoint_cannot_run_code(tmp_path):
    """Globals in the file become inert stand-ins: a planted callable is never called."""

    import os

    marker = tmp_path / "code-ran"

    class Planted:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "planted.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in original().state_dict().items()},
                "hyper_parameters": {"attention_heads": 2, "resnet_groups": 4, "payload": Planted()}}, path)
    try:
        load_prior(path)                 # the stand-in may load or refuse the file; the payload must never run
    except ValueError as err:
        assert "cannot read the checkpoint" in str(err)
    assert not marker.exists()
    printed = tmp_path / "printed.ckpt"  # a builtin becomes an inert stand-in and the file loads
    torch.save({"state_dict": {f"model.{k}": v for k, v in original().state_dict().items()},
                "hyper_parameters": {"attention_heads": 2, "payload": print}}, printed)
    assert isinstance(load_prior(printed), MSDMPrior)


def test_cli_separates_with_an_msdm_checkpoint(model_and_file, tmp_path, capsys):
    _, path = model_and_file
    t = np.arange(int(0.5 * 22050)) / 22050
    mixture = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 3300 * t)
    soundfile.write(tmp_path / "mix.wav", mixture.astype(np.float32), 22050, subtype="FLOAT")
    code = main(["separate", str(tmp_path / "mix.wav"), "--prior", str(path), "--steps", "2",
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    stems = [soundfile.read(tmp_path / "out" / f"mix_{s}.wav")[0] for s in ("bass", "drums", "guitar", "piano")]
    assert all(s.shape == mixture.shape for s in stems)
    np.testing.assert_allclose(sum(stems), mixture, atol=1e-4)
    assert main(["separate", str(tmp_path / "mix.wav"), "--prior", str(tmp_path / "nothing.ckpt"),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "nothing.ckpt: no such checkpoint file" in capsys.readouterr().err


def test_conditional_variants_are_named_not_loaded(tmp_path):
    """A checkpoint with a conditional branch (``cross_attend.``) is refused naming the first such tensor."""
    weights = {f"model.{k}": v for k, v in original(seed=6).state_dict().items()}
    weights["model.unet.upsamples.0.cross_attend.0.weight"] = torch.zeros(2)
    torch.save({"state_dict": weights}, tmp_path / "conditional.ckpt")
    with pytest.raises(ValueError, match=r"conditional.ckpt: an audio-diffusion-pytorch variant this loader does not "
                                         r"read \(upsamples.0.cross_attend.0.weight\); it reads the unconditional MSDM"):
        load_prior(tmp_path / "conditional.ckpt")


def test_unsupported_settings_and_damaged_zips_are_named(tmp_path):
    """Dynamic thresholding (MSDM trains without it) is refused naming its value; a zip that is not a torch
    checkpoint is 'cannot read the checkpoint' with the error's type; a net without attention loads."""
    model = original(seed=7)
    path = save_like_msdm(model, tmp_path / "thresholded.ckpt", diffusion_dynamic_threshold=0.9)
    with pytest.raises(ValueError, match=r"thresholded.ckpt: dynamic thresholding \(0.9\) is not supported"):
        load_prior(path)
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.ckpt", "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")
    with pytest.raises(ValueError, match=r"other.ckpt: cannot read the checkpoint \(\w+Error\)$"):
        load_prior(tmp_path / "other.ckpt")
    plain = dict(attentions=[False, False, False], use_attention_bottleneck=False)
    prior = load_msdm_prior(save_like_msdm(original(seed=8, **plain), tmp_path / "plain.ckpt", **plain))
    assert not any(prior.unet.arch.attentions)


def test_weights_that_do_not_fit_the_inferred_network_are_refused(tmp_path):
    """A tensor the inferred network has no place for is not silently dropped (strict loading)."""
    weights = {f"model.{k}": v for k, v in original(seed=9).state_dict().items()}
    weights["model.unet.stray.weight"] = torch.zeros(3)
    torch.save({"state_dict": weights}, tmp_path / "stray.ckpt")
    with pytest.raises(ValueError, match=r"stray.ckpt: the weights do not fit the inferred MSDM network \(.*stray"):
        load_prior(tmp_path / "stray.ckpt")
