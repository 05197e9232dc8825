"""Multi-source diffusion models (MSDM, Mariani et al. 2023) as priors: ``load_msdm_prior("msdm.ckpt")``.

MSDM's checkpoints are PyTorch Lightning files (``.ckpt``) of ``main.module_base.Model``, which
wraps audio-diffusion-pytorch 0.0.43's ``AudioDiffusionModel``: a ``UNet1d`` over the 4 stems of
Slakh2100 (bass, drums, guitar, piano; mono, 22.05 kHz, trained on 262144-sample segments) and an
Elucidated (EDM / k-diffusion) denoiser around it. Weights sit under ``state_dict["model.unet."]``
(again under ``model.diffusion.net.``, the same tensors); ``hyper_parameters`` hold the
constructor's arguments.

The denoiser in sigma-space (waveform units, no rescaling of the data):

    D(x, sigma) = clamp(c_skip x + c_out F(c_in x, log(sigma) / 4), -1, 1)
    c_skip = s_d^2 / (sigma^2 + s_d^2),  c_out = sigma s_d / sqrt(sigma^2 + s_d^2),  c_in = 1 / sqrt(sigma^2 + s_d^2)

with ``s_d = diffusion_sigma_data`` (0.2 for MSDM) and the clamp of audio-diffusion-pytorch's
``dynamic_threshold = 0``. (Later audio-diffusion-pytorch versions switched to v-diffusion with
another UNet; MSDM pins 0.0.43.)

Reading a checkpoint never runs code from it: ``torch.load(weights_only=True)`` with every
non-tensor class the file names (Lightning's ``AttributeDict``, the sigma distribution object,
OmegaConf containers...) replaced by an inert stand-in. The network (``msdm_unet.MSDMUNet``) is
rebuilt from the tensor shapes (levels, channels, multipliers, factors, blocks, attention, patching)
and from the scalar hyper-parameters the shapes cannot tell (attention heads, GroupNorm groups, skip
scaling, ``sigma_data``), MSDM's values when the file has none. The prior carries the audio
application's metadata (``kind`` audio, sample rate, stem names, segment, waveform scale 1), so
``projdiff separate --prior msdm.ckpt`` works; its noise range is MSDM's separation schedule,
sigma 1.0 down to 1e-4.
"""

from __future__ import annotations

import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from projdiff.priors.base import Prior, sigma_column
from projdiff.priors.msdm_unet import MSDMArchitecture, MSDMUNet

MSDM_STEMS = ("bass", "drums", "guitar", "piano")
MSDM_RATE = 22050
MSDM_SEGMENT = 262144
MSDM_SIGMA_DATA = 0.2
PREFIXES = ("model.unet.", "unet.", "")        # Lightning file, AudioDiffusionModel, bare UNet1d
UNSUPPORTED = ("to_features.", "cross_attend.", "to_extracted.")  # conditional / autoencoder variants


class MSDMPrior(Prior):
    """An MSDM network as a denoiser ``D(x, sigma)`` (waveform units; see the module docstring).

    Parameters
    ----------
    unet : MSDMUNet
    sigma_data : float
    stems : tuple of str
        Channel names.
    sample_rate : int
    segment : int
        Samples per item the model was trained on (a multiple of ``unet.arch.size_multiple``).
    """

    def __init__(self, unet: MSDMUNet, sigma_data: float, stems: tuple[str, ...], sample_rate: int, segment: int):
        super().__init__()
        self.unet = unet.eval()
        self.sigma_data = float(sigma_data)
        self.size_multiple = unet.arch.size_multiple
        self.shape = (unet.arch.in_channels, None)
        self.sigma_min, self.sigma_max = 1e-4, 1.0
        self.metadata = {"kind": "audio", "sample_rate": int(sample_rate), "stems": list(stems),
                         "segment": int(segment), "waveform_scale": 1.0,
                         "sampler": {"sigma_max": self.sigma_max, "sigma_min": self.sigma_min}}

    def check_shape(self, shape) -> None:
        super().check_shape(shape)
        if tuple(shape)[-1] % self.size_multiple:
            raise ValueError(f"operator.input_shape: segments must be multiples of {self.size_multiple} samples for "
                             f"this MSDM network, got {tuple(shape)}")

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma_column(sigma, x).clamp_min(1e-12)
        d2 = self.sigma_data**2
        c_skip, c_out, c_in = d2 / (s**2 + d2), s * self.sigma_data / (s**2 + d2).sqrt(), 1 / (s**2 + d2).sqrt()
        param = next(self.unet.parameters())
        out = self.unet((c_in * x).to(param.dtype), (s.flatten().log() / 4).to(param.dtype)).to(x.dtype)
        return (c_skip * x + c_out * out).clamp(-1.0, 1.0)


class _Inert:
    """Stands in for any class or function a checkpoint names: constructing or calling it runs nothing and
    gives an empty ``OrderedDict`` (the one container ``weights_only`` loading lets take items and state)."""

    def __new__(cls, *args, **kwargs) -> OrderedDict:
        return OrderedDict()


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state_dict, hyper_parameters)`` of a PyTorch checkpoint file, loaded without running its code.

    ``hyper_parameters`` keeps only int, float and bool entries (empty when the file has none).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a PyTorch checkpoint (expected the zip format of torch.save)")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        with torch.serialization.safe_globals([(_Inert, name) for name in names]):
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for damaged files
        raise ValueError(f"{path}: cannot read the checkpoint ({type(exc).__name__})") from None
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        weights, hparams = content["state_dict"], content.get("hyper_parameters") or {}
    elif isinstance(content, dict):
        weights, hparams = content, {}
    else:
        raise ValueError(f"{path}: not a state dict nor a Lightning checkpoint")
    weights = {k: v for k, v in weights.items() if isinstance(v, torch.Tensor)}
    scalars = {k: v for k, v in dict(hparams).items() if isinstance(v, (int, float, bool))}
    return weights, scalars


def unet_weights(weights: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """The UNet1d tensors under the first prefix of ``PREFIXES`` that has them, prefix removed."""
    marker = "to_in.module_list.0.block.block1.groupnorm.weight"
    for prefix in PREFIXES:
        found = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        if marker in found:
            return found
    raise ValueError(f"{where}: not an MSDM checkpoint (no weights of audio-diffusion-pytorch's UNet1d, e.g. "
                     f"model.unet.{marker})")


def _count(weights: dict, prefix: str) -> int:
    """How many numbered children ``prefix.N`` there are."""
    return len({k[len(prefix):].split(".")[0] for k in weights if k.startswith(prefix)})


def infer_architecture(weights: dict[str, torch.Tensor], hparams: dict, where: str) -> MSDMArchitecture:
    """The UNet1d settings of the tensors (prefix removed) and scalar hyper-parameters."""
    bad = sorted({k for k in weights if any(part in k for part in UNSUPPORTED)})
    if bad or "to_time.0.0.weights" not in weights:
        what = bad[0] if bad else "no time embedding (to_time)"
        raise ValueError(f"{where}: an audio-diffusion-pytorch variant this loader does not read ({what}); "
                         "it reads the unconditional MSDM models")
    defaults = MSDMArchitecture()
    channels = 2 * weights["to_time.0.0.weights"].shape[0]
    blocks = _count(weights, "to_in.module_list.")
    first = weights["to_in.module_list.0.block.block1.groupnorm.weight"].shape[0]
    last_out = weights[f"to_in.module_list.{blocks - 1}.block.block1.project.weight"].shape[0]
    levels = _count(weights, "downsamples.")
    downs = [weights[f"downsamples.{i}.downsample.weight"] for i in range(levels)]
    km = int(hparams.get("kernel_multiplier_downsample", defaults.kernel_multiplier_downsample))
    attentions = tuple(f"downsamples.{i}.transformer.feed_forward.1.weight" in weights for i in range(levels))
    heads = int(hparams.get("attention_heads", defaults.attention_heads))
    query = next((v for k, v in weights.items() if k.endswith(".fn.to_q.weight")), None)
    ff = next((v for k, v in weights.items() if k.endswith("transformer.feed_forward.1.weight")), None)
    return MSDMArchitecture(
        in_channels=first, channels=channels, patch_factor=channels // last_out, patch_blocks=blocks,
        multipliers=(downs[0].shape[1] // channels,) + tuple(d.shape[0] // channels for d in downs),
        factors=tuple((d.shape[2] - 1) // km for d in downs),
        num_blocks=tuple(_count(weights, f"downsamples.{i}.blocks.") for i in range(levels)),
        attentions=attentions, attention_heads=heads,
        attention_features=query.shape[0] // heads if query is not None else defaults.attention_features,
        attention_multiplier=ff.shape[0] // ff.shape[1] if ff is not None else defaults.attention_multiplier,
        resnet_groups=int(hparams.get("resnet_groups", defaults.resnet_groups)), kernel_multiplier_downsample=km,
        use_nearest_upsample="upsamples.0.upsample.1.weight" in weights,
        use_skip_scale=bool(hparams.get("use_skip_scale", defaults.use_skip_scale)),
        use_attention_bottleneck="bottleneck.attention.fn.to_q.weight" in weights)


def load_msdm_prior(path: str | Path, *, stems: tuple[str, ...] | None = None, sample_rate: int = MSDM_RATE,
                    segment: int = MSDM_SEGMENT) -> MSDMPrior:
    """Load an MSDM checkpoint (see the module docstring) as a prior.

    Parameters
    ----------
    path : a ``.ckpt`` (Lightning) or ``.pt`` state dict of audio-diffusion-pytorch 0.0.43's UNet1d
    stems : tuple of str, optional
        Channel names; default MSDM's (bass, drums, guitar, piano) for 4-channel models.
    sample_rate, segment : int
        What the model was trained on (MSDM: 22050 Hz, 262144 samples).

    Raises ``ValueError`` (one line naming the file) for files that are not such checkpoints.
    """
    where = str(path)
    weights, hparams = read_checkpoint(path)
    unet_state = unet_weights(weights, where)
    arch = infer_architecture(unet_state, hparams, where)
    if float(hparams.get("diffusion_dynamic_threshold", 0.0)) != 0.0:
        raise ValueError(f"{where}: dynamic thresholding ({hparams['diffusion_dynamic_threshold']}) is not supported; "
                         "MSDM's models use 0 (a clamp to [-1, 1])")
    if stems is None:
        if arch.in_channels != len(MSDM_STEMS):
            raise ValueError(f"{where}: a {arch.in_channels}-channel model (weakly-MSDM models have one per stem); "
                             f"this loader reads the {len(MSDM_STEMS)}-stem MSDM models")
        stems = MSDM_STEMS
    if len(stems) != arch.in_channels or segment % arch.size_multiple:
        raise ValueError(f"{where}: {len(stems)} stems and {segment}-sample segments do not fit a model with "
                         f"{arch.in_channels} channels and segments in multiples of {arch.size_multiple}")
    unet = MSDMUNet(arch)
    try:
        unet.load_state_dict(unet_state, strict=True)
    except RuntimeError as exc:
        detail = str(exc).replace("\n", " ")[:300]
        raise ValueError(f"{where}: the weights do not fit the inferred MSDM network ({detail})") from None
    return MSDMPrior(unet, float(hparams.get("diffusion_sigma_data", MSDM_SIGMA_DATA)), tuple(stems), sample_rate,
                     segment)
