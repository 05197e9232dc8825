"""guided-diffusion (ADM) checkpoints as priors, read without conversion scripts.

The pixel-space checkpoints of the field -- DPS's FFHQ 256 model ``ffhq_10m.pt`` and OpenAI's
ImageNet 256 unconditional model ``256x256_diffusion_uncond.pt``, used by DPS, DDRM, DDNM, DiffPIR
and ProjDiff -- are state dicts of guided-diffusion's ``UNetModel``. ``load_adm_prior`` reads one
with ``torch.load(weights_only=True)`` (tensors only, no code is unpickled), infers the network from
the tensor shapes, builds the equivalent diffusers ``UNet2DModel`` (scale-shift norm, ResNet
up/down-sampling, one attention head size) and renames the weights; each attention block's fused
``qkv`` convolution is split into ``to_q`` / ``to_k`` / ``to_v`` in guided-diffusion's channel order
(legacy: heads first, then q, k, v). The result is a ``DiffusersPrior`` with guided-diffusion's
linear beta schedule (1000 steps, 1e-4 .. 0.02) and epsilon prediction, in [-1, 1] data units;
``DiffusersPrior`` drops the learned-variance output channels (2C outputs for C inputs) and does
the conversion to sigma-space.

The shapes do not tell the attention head size, the qkv channel order or the training image size:
those come from a preset, the flags of the papers' repositories (``ADM_PRESETS``). A checkpoint
whose shapes match a preset is read with that preset's flags; another one needs its flags as an
``ADMArchitecture``. Supported: unconditional models with ``resblock_updown=True`` and
``channel_mult[0] == 1``, the form of every checkpoint named above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from projdiff.priors.diffusers_prior import DiffusersPrior

#: guided-diffusion's ``get_named_beta_schedule("linear", 1000)``.
BETA_START, BETA_END, DIFFUSION_STEPS = 1e-4, 0.02, 1000
_NORM_GROUPS = 32  # guided-diffusion's normalization(): GroupNorm32(32, channels), eps 1e-5
_RESNET = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
           "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
_ATTENTION = {"norm": "group_norm", "proj_out": "to_out.0"}  # qkv is split, see _split_qkv
_PLAIN = {"": ""}


@dataclass(frozen=True)
class ADMArchitecture:
    """guided-diffusion's ``create_model`` flags of an unconditional checkpoint.

    Field names and meanings are those of guided-diffusion's ``script_util.py``.

    Parameters
    ----------
    image_size : int
        Training resolution in pixels (the network is fully convolutional; sides must be multiples
        of ``2 ** (len(channel_mult) - 1)``).
    num_channels : int
        Base width (``model_channels``).
    num_res_blocks : int
        ResNet blocks per level on the way down (one more on the way up).
    channel_mult : tuple of int
        Width of each level as a multiple of ``num_channels``, full resolution first.
    attention_resolutions : tuple of int
        Feature-map sizes in pixels (at ``image_size``) where attention follows each ResNet block.
    num_head_channels : int, default 64
        Channels per attention head; -1 means ``num_heads`` heads of any width.
    num_heads : int, default 4
        Heads per attention block when ``num_head_channels == -1``.
    use_new_attention_order : bool, default False
        qkv channel order: False (legacy) is ``[head][q, k, v][channel]``, True is ``[q, k, v][head][channel]``.
    learn_sigma : bool, default True
        Whether the network also outputs the variance interpolation (2C output channels).
    use_scale_shift_norm : bool, default True
        Whether the time embedding scales and shifts the second norm of each ResNet block.
    in_channels : int, default 3
    """

    image_size: int
    num_channels: int
    num_res_blocks: int
    channel_mult: tuple[int, ...]
    attention_resolutions: tuple[int, ...]
    num_head_channels: int = 64
    num_heads: int = 4
    use_new_attention_order: bool = False
    learn_sigma: bool = True
    use_scale_shift_norm: bool = True
    in_channels: int = 3

    @property
    def attention_levels(self) -> tuple[int, ...]:
        """Levels (0 = full resolution) whose ResNet blocks are followed by attention."""
        return tuple(level for level in range(len(self.channel_mult))
                     if self.image_size // 2**level in self.attention_resolutions)

    def shape_fields(self) -> dict:
        """The fields a state dict's tensor shapes determine (compared with ``infer_shapes``)."""
        return {"in_channels": self.in_channels, "num_channels": self.num_channels,
                "num_res_blocks": self.num_res_blocks, "channel_mult": tuple(self.channel_mult),
                "attention_levels": self.attention_levels, "learn_sigma": self.learn_sigma,
                "use_scale_shift_norm": self.use_scale_shift_norm}


#: The flags of the checkpoints the papers use: DPS's ``configs/model_config.yaml`` (``ffhq_10m.pt``)
#: and guided-diffusion's README (``256x256_diffusion_uncond.pt``; LSUN 256 checkpoints share it).
ADM_PRESETS: dict[str, ADMArchitecture] = {
    "ffhq-256": ADMArchitecture(image_size=256, num_channels=128, num_res_blocks=1,
                                channel_mult=(1, 1, 2, 2, 4, 4), attention_resolutions=(16,)),
    "imagenet-256-uncond": ADMArchitecture(image_size=256, num_channels=256, num_res_blocks=2,
                                           channel_mult=(1, 1, 2, 2, 4, 4), attention_resolutions=(32, 16, 8)),
}


def _blocks(state_dict: dict, prefix: str) -> list[set[str]]:
    """The module indices present under ``prefix.N.`` for N = 0, 1, ..., e.g. ``[{"0"}, {"0", "1"}]``."""
    found: dict[int, set[str]] = {}
    for key in state_dict:
        if key.startswith(prefix + "."):
            parts = key[len(prefix) + 1:].split(".")
            if len(parts) < 3 or not parts[0].isdigit():
                raise ValueError(f"{key}: not a key of guided-diffusion's UNet layout")
            found.setdefault(int(parts[0]), set()).add(parts[1])
    if sorted(found) != list(range(len(found))):
        raise ValueError(f"{prefix}: block indices {sorted(found)} are not 0, 1, 2, ...")
    return [found[i] for i in range(len(found))]


def infer_shapes(state_dict: dict[str, torch.Tensor]) -> dict:
    """The architecture fields that a guided-diffusion state dict's keys and shapes determine.

    Returns the dict of ``ADMArchitecture.shape_fields()``. Raises ``ValueError`` (one line) for a
    state dict that is not an unconditional guided-diffusion ``UNetModel`` this loader supports.
    """
    try:
        return _infer_shapes(state_dict)
    except KeyError as exc:
        raise ValueError(f"not a guided-diffusion (ADM) UNet state dict (no {exc.args[0]})") from None


def _infer_shapes(state_dict: dict[str, torch.Tensor]) -> dict:
    if "time_embed.0.weight" not in state_dict or "out.2.weight" not in state_dict:
        raise ValueError("not a guided-diffusion (ADM) UNet state dict (no time_embed.0.weight / out.2.weight)")
    if "label_emb.weight" in state_dict:
        raise ValueError("a class-conditional ADM checkpoint (label_emb); only unconditional ones are supported")
    if any(k.endswith((".op.weight", ".conv.weight")) for k in state_dict):
        raise ValueError("an ADM checkpoint with convolutional up/down-sampling (resblock_updown=False); "
                         "only resblock_updown=True is supported")
    num_channels = state_dict["time_embed.0.weight"].shape[1]
    in_channels = state_dict["input_blocks.0.0.weight"].shape[1]
    if state_dict["input_blocks.0.0.weight"].shape[0] != num_channels:
        raise ValueError("an ADM checkpoint with channel_mult[0] != 1; not supported")
    # Each level ends, on the way up, with an up-sampling ResBlock (but the full-resolution one):
    # output block i holds one at module 1 (no attention) or 2 (after attention).
    outputs = _blocks(state_dict, "output_blocks")
    upsamplers = [i for i, modules in enumerate(outputs) if "2" in modules
                  or ("1" in modules and f"output_blocks.{i}.1.in_layers.0.weight" in state_dict)]
    levels = len(upsamplers) + 1
    per_level, rest = divmod(len(outputs), levels)  # num_res_blocks + 1
    if per_level < 2 or rest or upsamplers != [per_level * (i + 1) - 1 for i in range(levels - 1)] \
            or len(_blocks(state_dict, "input_blocks")) != len(outputs):
        raise ValueError("its blocks do not form guided-diffusion's UNet layout")
    first = [1 + level * per_level for level in range(levels)]  # the first input block of each level
    widths = [state_dict[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0] for i in first]
    if any(w % num_channels for w in widths):
        raise ValueError(f"level widths {widths} are not multiples of num_channels={num_channels}")
    out_channels = state_dict["out.2.weight"].shape[0]
    if out_channels not in (in_channels, 2 * in_channels):
        raise ValueError(f"{out_channels} output channels for {in_channels} input channels (expected "
                         f"{in_channels} or {2 * in_channels})")
    return {"in_channels": in_channels, "num_channels": num_channels, "num_res_blocks": per_level - 1,
            "channel_mult": tuple(w // num_channels for w in widths),
            "attention_levels": tuple(level for level, i in enumerate(first)
                                      if f"input_blocks.{i}.1.qkv.weight" in state_dict),
            "learn_sigma": out_channels == 2 * in_channels,
            "use_scale_shift_norm": state_dict["input_blocks.1.0.emb_layers.1.weight"].shape[0] == 2 * widths[0]}


def resolve_architecture(state_dict: dict[str, torch.Tensor],
                         preset: str | ADMArchitecture | None) -> ADMArchitecture:
    """The checkpoint's flags: ``preset`` (a name or flags) checked against the shapes, or the matching preset.

    Raises ``ValueError`` naming the differing fields, the unknown preset, or, without a preset,
    the inferred shapes when no preset matches them.
    """
    shapes = infer_shapes(state_dict)
    if preset is None:
        matches = [arch for arch in ADM_PRESETS.values() if arch.shape_fields() == shapes]
        if not matches:
            found = ", ".join(f"{k}={v}" for k, v in shapes.items())
            raise ValueError(f"an ADM network ({found}) that matches no preset ({', '.join(ADM_PRESETS)}); "
                             "pass preset=ADMArchitecture(...) with its repository's flags")
        return matches[0]
    if isinstance(preset, str):
        if preset not in ADM_PRESETS:
            raise ValueError(f"preset: expected one of {', '.join(ADM_PRESETS)}, got {preset!r}")
        arch = ADM_PRESETS[preset]
    else:
        arch = preset
    expected = arch.shape_fields()
    wrong = [f"{k}={shapes[k]} (preset: {expected[k]})" for k in expected if expected[k] != shapes[k]]
    if wrong:
        raise ValueError(f"preset: the checkpoint does not match it: {', '.join(wrong)}")
    return arch


def attention_head_dim(arch: ADMArchitecture) -> int:
    """The one head size of all attention blocks (diffusers' ``attention_head_dim``)."""
    widths = {arch.num_channels * arch.channel_mult[level] for level in arch.attention_levels}
    widths.add(arch.num_channels * arch.channel_mult[-1])  # the middle block always has attention
    if arch.num_head_channels != -1:
        if any(w % arch.num_head_channels for w in widths):
            raise ValueError(f"num_head_channels={arch.num_head_channels} does not divide the attention widths "
                             f"{sorted(widths)}")
        return arch.num_head_channels
    dims = {w // arch.num_heads for w in widths}
    if len(dims) != 1 or any(w % arch.num_heads for w in widths):
        raise ValueError(f"num_heads={arch.num_heads} on attention widths {sorted(widths)} gives head sizes "
                         f"{sorted(dims)}; diffusers' UNet2DModel has one head size")
    return dims.pop()


def unet_config(arch: ADMArchitecture) -> dict:
    """The diffusers ``UNet2DModel`` configuration equivalent to ``arch``."""
    levels = range(len(arch.channel_mult))
    attention = set(arch.attention_levels)
    return {
        "sample_size": arch.image_size, "in_channels": arch.in_channels,
        "out_channels": arch.in_channels * (2 if arch.learn_sigma else 1),
        "block_out_channels": tuple(arch.num_channels * m for m in arch.channel_mult),
        "layers_per_block": arch.num_res_blocks,
        "down_block_types": tuple("AttnDownBlock2D" if level in attention else "ResnetDownsampleBlock2D"
                                  for level in levels),
        "up_block_types": tuple("AttnUpBlock2D" if level in attention else "ResnetUpsampleBlock2D"
                                for level in reversed(levels)),
        "downsample_type": "resnet", "upsample_type": "resnet",
        "resnet_time_scale_shift": "scale_shift" if arch.use_scale_shift_norm else "default",
        "attention_head_dim": attention_head_dim(arch),
        "norm_num_groups": _NORM_GROUPS, "attn_norm_num_groups": _NORM_GROUPS, "norm_eps": 1e-5,
        "time_embedding_type": "positional", "flip_sin_to_cos": True, "freq_shift": 0,
        "act_fn": "silu", "dropout": 0.0,
    }


def _module_map(arch: ADMArchitecture) -> list[tuple[str, str, dict[str, str]]]:
    """(guided-diffusion module, diffusers module, sub-module names) for every module of the network."""
    pairs = [("time_embed.0", "time_embedding.linear_1", _PLAIN), ("time_embed.2", "time_embedding.linear_2", _PLAIN),
             ("input_blocks.0.0", "conv_in", _PLAIN), ("out.0", "conv_norm_out", _PLAIN), ("out.2", "conv_out", _PLAIN),
             ("middle_block.0", "mid_block.resnets.0", _RESNET),
             ("middle_block.1", "mid_block.attentions.0", _ATTENTION),
             ("middle_block.2", "mid_block.resnets.1", _RESNET)]
    last = len(arch.channel_mult) - 1
    attention = set(arch.attention_levels)
    block = 1
    for level in range(last + 1):
        for j in range(arch.num_res_blocks):
            pairs.append((f"input_blocks.{block}.0", f"down_blocks.{level}.resnets.{j}", _RESNET))
            if level in attention:
                pairs.append((f"input_blocks.{block}.1", f"down_blocks.{level}.attentions.{j}", _ATTENTION))
            block += 1
        if level != last:
            pairs.append((f"input_blocks.{block}.0", f"down_blocks.{level}.downsamplers.0", _RESNET))
            block += 1
    block = 0
    for up, level in enumerate(reversed(range(last + 1))):
        for j in range(arch.num_res_blocks + 1):
            pairs.append((f"output_blocks.{block}.0", f"up_blocks.{up}.resnets.{j}", _RESNET))
            if level in attention:
                pairs.append((f"output_blocks.{block}.1", f"up_blocks.{up}.attentions.{j}", _ATTENTION))
            if level and j == arch.num_res_blocks:
                index = 2 if level in attention else 1
                pairs.append((f"output_blocks.{block}.{index}", f"up_blocks.{up}.upsamplers.0", _RESNET))
            block += 1
    return pairs


def _split_qkv(tensor: torch.Tensor, head_dim: int, legacy: bool) -> list[torch.Tensor]:
    """Split a fused qkv weight (3C, C) or bias (3C,) into q, k, v with diffusers' head-major rows."""
    heads = tensor.shape[0] // (3 * head_dim)
    parts = tensor.unflatten(0, (heads, 3, -1)).transpose(0, 1) if legacy else tensor.unflatten(0, (3, heads, -1))
    return [p.flatten(0, 1).contiguous() for p in parts]


def convert_state_dict(state_dict: dict[str, torch.Tensor], arch: ADMArchitecture) -> dict[str, torch.Tensor]:
    """Rename (and split) a guided-diffusion state dict into ``UNet2DModel(**unet_config(arch))``'s keys.

    Attention convolutions (C', C, 1) become linear weights (C', C). Raises ``ValueError`` listing
    checkpoint keys that no module of ``arch`` uses.
    """
    head_dim, legacy = attention_head_dim(arch), not arch.use_new_attention_order
    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for old, new, names in _module_map(arch):
        for key in [k for k in state_dict if k.startswith(old + ".")]:
            sub, _, param = key[len(old) + 1:].rpartition(".")
            tensor = state_dict[key]
            if names is _ATTENTION:
                tensor = tensor.flatten(1) if tensor.dim() == 3 else tensor
            if names is _ATTENTION and sub == "qkv":
                for name, part in zip(("to_q", "to_k", "to_v"), _split_qkv(tensor, head_dim, legacy)):
                    converted[f"{new}.{name}.{param}"] = part
            elif sub in names:
                converted[".".join(p for p in (new, names[sub], param) if p)] = tensor
            else:
                continue
            used.add(key)
    unused = sorted(set(state_dict) - used)
    if unused:
        more = f" and {len(unused) - 3} more" if len(unused) > 3 else ""
        raise ValueError(f"keys the ADM layout does not use: {', '.join(unused[:3])}{more}")
    return converted


def unet_from_adm(state_dict: dict[str, torch.Tensor], preset: str | ADMArchitecture | None = None):
    """A diffusers ``UNet2DModel`` holding a guided-diffusion state dict's weights, and the flags used.

    The UNet is built on the meta device and takes the checkpoint's tensors (cast to float32)
    without a second copy; meta tensors in give a meta UNet (for checking a layout cheaply).

    Returns
    -------
    (UNet2DModel, ADMArchitecture)
    """
    from diffusers import UNet2DModel

    arch = resolve_architecture(state_dict, preset)
    floats = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    converted = convert_state_dict(floats, arch)
    with torch.device("meta"):
        unet = UNet2DModel(**unet_config(arch))
    try:
        unet.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as exc:  # missing keys or wrong shapes: name the first problem only
        problem = str(exc).splitlines()[1].strip()
        raise ValueError(f"the checkpoint does not fill the equivalent UNet: {problem[:200]}") from None
    return unet.eval(), arch


def adm_scheduler(learn_sigma: bool = True):
    """guided-diffusion's linear schedule as a diffusers ``DDPMScheduler`` (epsilon prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=DIFFUSION_STEPS, beta_schedule="linear", beta_start=BETA_START,
                         beta_end=BETA_END, prediction_type="epsilon",
                         variance_type="learned_range" if learn_sigma else "fixed_large")


def load_adm_prior(path: str | Path, preset: str | ADMArchitecture | None = None) -> DiffusersPrior:
    """Load a guided-diffusion (ADM) checkpoint as a prior in [-1, 1] data units.

    Parameters
    ----------
    path : str or Path
        A state dict saved by guided-diffusion (e.g. ``ffhq_10m.pt``, ``256x256_diffusion_uncond.pt``).
    preset : str or ADMArchitecture, optional
        A name of ``ADM_PRESETS`` or the checkpoint's flags. By default the preset whose
        architecture matches the tensor shapes.

    Returns
    -------
    DiffusersPrior
        float32 on the CPU; move it with ``.to(device)``. Its metadata names the preset and flags;
        ``save_pretrained(folder)`` writes a diffusers folder that ``load_prior`` reads directly.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        One line naming the file: not a tensor-only state dict, not an ADM UNet this loader
        supports, or a preset that does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and EOF errors all mean "not a readable state dict"
        raise ValueError(f"{path}: not a PyTorch state dict readable with weights_only=True "
                         f"({type(exc).__name__})") from None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path}: not a guided-diffusion (ADM) state dict (expected a dict of tensors, "
                         f"got {type(state_dict).__name__})")
    try:
        unet, arch = unet_from_adm(state_dict, preset)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    name = next((n for n, a in ADM_PRESETS.items() if a == arch), None)
    metadata = {"source": "guided-diffusion", "preset": name, "architecture": asdict(arch)}
    return DiffusersPrior(unet, adm_scheduler(arch.learn_sigma), data_range=(-1.0, 1.0), metadata=metadata)
