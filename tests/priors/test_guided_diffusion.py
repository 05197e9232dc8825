"""guided-diffusion (ADM) checkpoints: round trips with random weights in the official layout.

No checkpoint can be downloaded here. The original network is deepinv's ``DiffUNet`` (guided-diffusion's
``UNetModel`` at the two presets' sizes; it loads the official files) and, for small configurations,
``ReferenceADM``: deepinv's copies of guided-diffusion's blocks assembled in ``UNetModel``'s order (its
layout is checked against ``DiffUNet`` below) and run by ``DiffUNet.forward_diffusion`` itself.
"""

import math

import numpy as np
import pytest
import torch
from deepinv.models.diffunet import AttentionBlock, DiffUNet, ResBlock, TimestepEmbedSequential, normalization
from torch import nn

from projdiff.cli import main
from projdiff.priors import ADM_PRESETS, ADMArchitecture, load_adm_prior, load_prior
from projdiff.priors import guided_diffusion
from projdiff.priors.guided_diffusion import unet_from_adm

TINY = ADMArchitecture(image_size=32, num_channels=32, num_res_blocks=2, channel_mult=(1, 2, 2),
                       attention_resolutions=(16, 8), num_head_channels=16)  # 4 heads of 16 in legacy order
TINY_NEW_ORDER = ADMArchitecture(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1, 2, 2),
                                 attention_resolutions=(16, 8), num_head_channels=-1, num_heads=2,
                                 use_new_attention_order=True, learn_sigma=False, use_scale_shift_norm=False)


class ReferenceADM(nn.Module):
    """guided-diffusion's unconditional ``UNetModel`` (``resblock_updown=True``) from deepinv's blocks."""

    forward = DiffUNet.forward_diffusion

    def __init__(self, arch: ADMArchitecture):
        super().__init__()
        mc, emb = arch.num_channels, 4 * arch.num_channels
        self.model_channels, self.num_classes, self.dtype = mc, None, torch.float32
        attention_ds = {arch.image_size // r for r in arch.attention_resolutions}

        def res(channels, out=None, **updown):
            return ResBlock(channels, emb, 0.0, out_channels=out, use_scale_shift_norm=arch.use_scale_shift_norm,
                            **updown)

        def attn(channels):
            return AttentionBlock(channels, num_heads=arch.num_heads, num_head_channels=arch.num_head_channels,
                                  use_new_attention_order=arch.use_new_attention_order)

        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(arch.in_channels, mc, 3, padding=1))])
        skips, ch, ds = [mc], mc, 1
        for level, mult in enumerate(arch.channel_mult):
            for _ in range(arch.num_res_blocks):
                layers, ch = [res(ch, mult * mc)], mult * mc
                layers += [attn(ch)] if ds in attention_ds else []
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skips.append(ch)
            if level != len(arch.channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(res(ch, ch, down=True)))
                skips.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(res(ch), attn(ch), res(ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(arch.channel_mult))):
            for i in range(arch.num_res_blocks + 1):
                layers, ch = [res(ch + skips.pop(), mult * mc)], mult * mc
                layers += [attn(ch)] if ds in attention_ds else []
                if level and i == arch.num_res_blocks:
                    layers.append(res(ch, ch, up=True))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        outputs = arch.in_channels * (2 if arch.learn_sigma else 1)
        self.out = nn.Sequential(normalization(ch), nn.SiLU(), nn.Conv2d(ch, outputs, 3, padding=1))


def official_state_dict(module: nn.Module) -> dict:
    """The state dict as guided-diffusion saves it (deepinv's DiffUNet adds two schedule buffers)."""
    return {k: v for k, v in module.state_dict().items() if "alphas_cumprod" not in k}


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere (guided-diffusion zeroes some layers at init, which would hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            scale = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.5
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module.eval()


def deepinv_unet(preset: str) -> DiffUNet:
    return DiffUNet(pretrained=None, large_model=preset == "imagenet-256-uncond")


def shapes(state_dict: dict) -> dict:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


@pytest.mark.parametrize("preset", list(ADM_PRESETS))
def test_reference_network_has_deepinvs_layout(preset):
    with torch.device("meta"):
        ours, theirs = ReferenceADM(ADM_PRESETS[preset]), deepinv_unet(preset)
    assert shapes(ours.state_dict()) == shapes(official_state_dict(theirs))


@pytest.mark.parametrize("preset", list(ADM_PRESETS))
def test_presets_use_every_checkpoint_key_at_full_size(preset):
    with torch.device("meta"):
        original = deepinv_unet(preset)
    state = official_state_dict(original)
    unet, arch = unet_from_adm(state)  # meta tensors: strict loading, no memory
    assert arch == ADM_PRESETS[preset]
    assert sum(p.numel() for p in unet.parameters()) == sum(v.numel() for v in state.values())
    assert unet.config.out_channels == 6 and unet.config.attention_head_dim == 64
    other = next(name for name in ADM_PRESETS if name != preset)
    with pytest.raises(ValueError, match=r"^preset: the checkpoint does not match it: num_channels="):
        unet_from_adm(state, other)


def run_both(reference, unet, x, t):
    with torch.no_grad():
        return reference(x, t), unet(x, t).sample


@pytest.mark.parametrize("arch", [TINY, TINY_NEW_ORDER], ids=["legacy-heads-learned-sigma", "new-order-fixed-sigma"])
def test_round_trip_through_a_file_gives_the_original_outputs(arch, tmp_path):
    reference = randomize(ReferenceADM(arch))
    torch.save(reference.state_dict(), tmp_path / "model.pt")
    prior = load_adm_prior(tmp_path / "model.pt", preset=arch)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.0, 250.0, 999.0])
    want, got = run_both(reference, prior.unet, x, t)
    assert got.shape == want.shape == (3, 6 if arch.learn_sigma else 3, 32, 32)
    assert want.abs().mean() > 0.1  # the comparison is not between zeros
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_denoise_is_the_x0_formula_on_the_original_eps(tmp_path):
    reference = randomize(ReferenceADM(TINY), seed=2)
    torch.save(reference.state_dict(), tmp_path / "model.pt")
    prior = load_adm_prior(tmp_path / "model.pt", preset=TINY)
    steps = torch.tensor([10, 400, 999])
    sigma = prior.sigmas.double()[steps]
    abar = 1 / (1 + sigma**2)
    torch.testing.assert_close(abar.float(), prior.scheduler.alphas_cumprod[steps], rtol=1e-5, atol=0)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        eps = reference(x * abar.sqrt().float().view(-1, 1, 1, 1), steps.float())[:, :3]
        got = prior.denoise(x, sigma.float())
    sigma = sigma.float().view(-1, 1, 1, 1)
    # x0 = x - sigma * eps, compared in eps units (sigma reaches 156; float32 rounding scales with it)
    torch.testing.assert_close((x - got) / sigma, eps, rtol=1e-4, atol=1e-4)
    # guided-diffusion's float64 linear schedule: sigma of t = 0 and t = 999
    assert (prior.sigma_min, prior.sigma_max) == pytest.approx((1.00005e-2, 157.4073), rel=1e-4)


def test_ffhq_architecture_gives_the_original_outputs():
    original = randomize(deepinv_unet("ffhq-256"))  # guided-diffusion's network at DPS's size, 94 M parameters
    unet, arch = unet_from_adm(official_state_dict(original))
    assert arch == ADM_PRESETS["ffhq-256"]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    want, got = run_both(original.forward_diffusion, unet, x, torch.tensor([20.0, 900.0]))
    assert want.abs().mean() > 0.1
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_load_prior_reads_a_checkpoint_file_and_saves_a_diffusers_folder(tmp_path, monkeypatch):
    reference = randomize(ReferenceADM(TINY))
    torch.save(reference.state_dict(), tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match=r"tiny\.pt: an ADM network \(in_channels=3, num_channels=32, .*\) "
                                         r"that matches no preset \(ffhq-256, imagenet-256-uncond\)"):
        load_prior(tmp_path / "tiny.pt")
    monkeypatch.setitem(guided_diffusion.ADM_PRESETS, "tiny", TINY)
    prior = load_prior(str(tmp_path / "tiny.pt"))  # found by its shapes
    assert prior.metadata["preset"] == "tiny" and prior.shape == (3, None, None) and prior.size_multiple == 4
    assert prior.metadata["source"] == "guided-diffusion" and prior.metadata["architecture"]["learn_sigma"] is True
    assert prior.scheduler.config.variance_type == "learned_range"
    assert guided_diffusion.adm_scheduler(False).config.variance_type == "fixed_large"
    assert guided_diffusion.adm_scheduler().config.variance_type == "learned_range"    # the released models learn it
    prior.save_pretrained(tmp_path / "folder")
    again = load_prior(tmp_path / "folder")
    x, sigma = torch.randn(2, 3, 16, 16), torch.tensor([0.5, 20.0])
    with torch.no_grad():
        torch.testing.assert_close(again.denoise(x, sigma), prior.denoise(x, sigma))


def test_cli_restores_with_an_adm_checkpoint(tmp_path, monkeypatch, capsys):
    gray = ADMArchitecture(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1, 2),
                           attention_resolutions=(16,), num_head_channels=32, in_channels=1)
    torch.save(randomize(ReferenceADM(gray)).state_dict(), tmp_path / "gray.pt")
    monkeypatch.setitem(guided_diffusion.ADM_PRESETS, "gray", gray)
    image = tmp_path / "x.npy"
    np.save(image, np.random.default_rng(0).random((32, 32)).astype(np.float32))
    code = main(["restore", str(image), "--task", "sr4", "--prior", str(tmp_path / "gray.pt"), "--steps", "2",
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "x_restored.png").is_file()


def _write(path, obj):
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("content, message", [
    ("text", r"not a PyTorch state dict readable with weights_only=True \("),
    ("module", r"not a PyTorch state dict readable with weights_only=True \("),
    ("list", r"not a guided-diffusion \(ADM\) state dict \(expected a dict of tensors, got list\)"),
    ("diffusers", r"not a guided-diffusion \(ADM\) UNet state dict"),
    ("class-conditional", r"a class-conditional ADM checkpoint \(label_emb\)"),
    ("extra-key", r"keys the ADM layout does not use: extra\.weight"),
    ("conv-resampling", r"an ADM checkpoint with convolutional up/down-sampling \(resblock_updown=False\); only "
                        r"resblock_updown=True is supported"),
    ("truncated", r"not a guided-diffusion \(ADM\) UNet state dict \(no input_blocks\.0\.0\.weight\)"),
])
def test_a_file_that_is_not_a_supported_adm_state_dict_is_one_line(content, message, tmp_path):
    path = tmp_path / "model.pt"
    state = ReferenceADM(TINY).state_dict()
    if content == "text":
        path.write_text("not a checkpoint\n")
    elif content == "module":
        _write(path, nn.Linear(2, 2))  # a pickled module: code, refused by weights_only
    elif content == "list":
        _write(path, [torch.zeros(1)])
    elif content == "diffusers":
        from diffusers import UNet2DModel

        _write(path, UNet2DModel(block_out_channels=(32, 32), down_block_types=("DownBlock2D",) * 2,
                                 up_block_types=("UpBlock2D",) * 2).state_dict())
    elif content == "conv-resampling":
        _write(path, {**state, "input_blocks.3.0.op.weight": torch.zeros(1)})
    elif content == "truncated":
        _write(path, {k: v for k, v in state.items() if not k.startswith("input_blocks.0.")})
    elif content == "class-conditional":
        _write(path, {**state, "label_emb.weight": torch.zeros(10, 128)})
    else:
        _write(path, {**state, "extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=rf"^{path}: {message}") as err:
        load_adm_prior(path, preset=TINY)
    assert "\n" not in str(err.value)


def test_a_preset_that_does_not_match_is_one_line(tmp_path):
    path = _write(tmp_path / "model.pt", ReferenceADM(TINY).state_dict())
    with pytest.raises(ValueError, match=r"preset: the checkpoint does not match it: num_channels=32 \(preset: 128\), "
                                         r"num_res_blocks=2 \(preset: 1\)"):
        load_prior(path, preset="ffhq-256")
    with pytest.raises(ValueError, match=r"preset: expected one of ffhq-256, imagenet-256-uncond, got 'ffhq'"):
        load_adm_prior(path, preset="ffhq")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt: no such file"):
        load_prior(tmp_path / "missing.pt")


def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((32, 32), np.float32))
    (tmp_path / "bad.pt").write_text("nope")
    code = main(["restore", str(image), "--task", "sr4", "--prior", str(tmp_path / "bad.pt"), "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "bad.pt: not a PyTorch state dict" in err and len(err.strip().splitlines()) == 1


def test_unused_keys_and_mixed_head_sizes_are_named():
    """Keys the layout does not use are listed (three, then a count); heads of unequal size cannot be expressed."""
    from dataclasses import replace

    state = randomize(ReferenceADM(TINY)).state_dict()
    with pytest.raises(ValueError, match=r"^keys the ADM layout does not use: extra\.0, extra\.1, extra\.2$"):
        guided_diffusion.convert_state_dict({**state, **{f"extra.{i}": torch.zeros(1) for i in range(3)}}, TINY)
    with pytest.raises(ValueError, match=r"^keys the ADM layout does not use: extra\.0, extra\.1, extra\.2 and 2 more$"):
        guided_diffusion.convert_state_dict({**state, **{f"extra.{i}": torch.zeros(1) for i in range(5)}}, TINY)
    # attention at 16 px (width 64) and in the middle (width 64) with 4 heads: one size, 16
    assert guided_diffusion.attention_head_dim(replace(TINY, num_head_channels=-1, num_heads=4)) == 16
    with pytest.raises(ValueError, match=r"^num_head_channels=24 does not divide the attention widths \[64\]$"):
        guided_diffusion.attention_head_dim(replace(TINY, num_head_channels=24))
    mixed = replace(TINY, channel_mult=(1, 2, 4), attention_resolutions=(16,), num_head_channels=-1, num_heads=4)
    with pytest.raises(ValueError, match=r"^num_heads=4 on attention widths \[64, 128\] gives head sizes \[16, 32\]; "
                                         r"diffusers' UNet2DModel has one head size$"):
        guided_diffusion.attention_head_dim(mixed)


def test_a_half_precision_checkpoint_loads_in_float32_and_a_short_one_is_named(tmp_path):
    """Weights saved in float16 are cast to float32 (the UNet runs in float32); a state dict missing a tensor of the
    layout names it."""
    state = randomize(ReferenceADM(TINY)).state_dict()
    unet, _ = guided_diffusion.unet_from_adm({k: v.half() for k, v in state.items()}, TINY)
    assert {p.dtype for p in unet.parameters()} == {torch.float32}
    short = {k: v for k, v in state.items() if k != "out.2.bias"}
    with pytest.raises(ValueError, match=r"^the checkpoint does not fill the equivalent UNet: Missing key\(s\) in "
                                         r"state_dict: \"conv_out.bias\""):
        guided_diffusion.unet_from_adm(short, TINY)
