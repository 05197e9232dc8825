"""The 1D UNet of the multi-source diffusion models (MSDM, Mariani et al. 2023), for loading their weights.

MSDM trained audio-diffusion-pytorch 0.0.43's ``UNet1d``. This is an independent implementation of
that network's computation, with submodules named so that its ``state_dict`` keys are the
original's (``to_in.module_list.0.block.block1.groupnorm.weight``, ``downsamples.3.transformer.
attention.fn.to_q.weight``, ...), so weights load with ``load_state_dict(strict=True)``.

Shape of a call: ``x`` (B, C, L) with L a multiple of ``MSDMArchitecture.size_multiple``, ``time``
(B,) = ``log(sigma) / 4``; returns (B, C, L). Pieces:

- time: learnt random Fourier features of ``time`` (``channels / 2`` frequencies, plus ``time``
  itself), a linear layer to ``4 * channels`` features and GELU, then two linear + GELU layers: the
  *mapping* that every residual block turns into a per-channel scale and shift;
- in / out: ``patch_blocks`` residual blocks that fold ``patch_factor`` neighbouring samples into
  channels (and unfold them at the end);
- levels: per level a strided convolution (kernel ``factor * kernel_multiplier + 1``), residual
  blocks (GroupNorm, SiLU, convolution; the mapping's scale and shift after the second norm) and an
  optional transformer block (pre-norm self-attention without bias terms, channel-norm feed
  forward); the way up concatenates every skip (scaled by 1/sqrt(2)) before a residual block and
  upsamples with a transposed convolution (kernel ``2 * factor``);
- bottleneck: residual block, self-attention (no residual connection, as the original), residual
  block; the patched input is added back before unpatching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MSDMArchitecture:
    """The settings of an audio-diffusion-pytorch 0.0.43 ``UNet1d`` (names as in its constructor).

    The defaults are MSDM's (``exp/train_msdm.yaml`` of the MSDM repository): 4 stems, 256 channels,
    patches of 16 samples, 6 levels with factors 4, 4, 4, 2, 2, 2, attention on the last three.
    """

    in_channels: int = 4
    channels: int = 256
    patch_factor: int = 16
    patch_blocks: int = 1
    multipliers: tuple[int, ...] = (1, 2, 4, 4, 4, 4, 4)
    factors: tuple[int, ...] = (4, 4, 4, 2, 2, 2)
    num_blocks: tuple[int, ...] = (2, 2, 2, 2, 2, 2)
    attentions: tuple[bool, ...] = (False, False, False, True, True, True)
    attention_heads: int = 8
    attention_features: int = 128
    attention_multiplier: int = 2
    resnet_groups: int = 8
    kernel_multiplier_downsample: int = 2
    use_nearest_upsample: bool = False
    use_skip_scale: bool = True
    use_attention_bottleneck: bool = True

    def __post_init__(self) -> None:
        levels = len(self.multipliers) - 1
        if not (len(self.factors) == len(self.num_blocks) == len(self.attentions) == levels):
            raise ValueError(f"MSDM architecture: {levels + 1} multipliers need {levels} factors, block counts and "
                             f"attention flags, got {len(self.factors)}, {len(self.num_blocks)}, "
                             f"{len(self.attentions)}")

    @property
    def size_multiple(self) -> int:
        """Segment lengths must be multiples of this (patching and every level's downsampling)."""
        return self.patch_factor**self.patch_blocks * math.prod(self.factors)


class _Norm(nn.Module):
    """Layer norm over the last axis with a gain ``g`` and no bias, eps 1e-5."""

    def __init__(self, features: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.g, None, eps=1e-5)


class _ChannelNorm(nn.Module):
    """Layer norm over the channel axis of (B, C, L), gain of shape (1, C, 1), no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        return (x - mean) * (var + 1e-5).rsqrt() * self.g


class _ConvUnit(nn.Module):
    """GroupNorm, optional scale and shift, SiLU, convolution (kernel 3)."""

    def __init__(self, inputs: int, outputs: int, groups: int):
        super().__init__()
        self.groupnorm = nn.GroupNorm(groups, inputs)
        self.activation = nn.SiLU()
        self.project = nn.Conv1d(inputs, outputs, 3, padding=1)

    def forward(self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.groupnorm(x)
        if scale_shift is not None:
            x = x * (scale_shift[0] + 1) + scale_shift[1]
        return self.project(self.activation(x))


class _ScaleShift(nn.Module):
    def __init__(self, features: int, channels: int):
        super().__init__()
        self.to_scale_shift = nn.Sequential(nn.SiLU(), nn.Linear(features, 2 * channels))

    def forward(self, mapping: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.to_scale_shift(mapping)[:, :, None].chunk(2, dim=1)


class _ResBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, groups: int, mapping_features: int):
        super().__init__()
        self.block1 = _ConvUnit(inputs, outputs, groups)
        self.to_scale_shift = _ScaleShift(mapping_features, outputs)
        self.block2 = _ConvUnit(outputs, outputs, groups)
        self.to_out = nn.Conv1d(inputs, outputs, 1) if inputs != outputs else nn.Identity()

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(x), self.to_scale_shift(mapping)) + self.to_out(x)


class _Patch(nn.Module):
    """Residual block to ``outputs / factor`` channels, then ``factor`` samples folded into channels."""

    def __init__(self, inputs: int, outputs: int, factor: int, mapping_features: int):
        super().__init__()
        self.factor = factor
        self.block = _ResBlock(inputs, outputs // factor, min(factor, inputs), mapping_features)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        x = self.block(x, mapping)
        b, c, n = x.shape  # channel index c * factor + p holds sample l * factor + p
        return x.reshape(b, c, n // self.factor, self.factor).permute(0, 1, 3, 2).reshape(b, c * self.factor, -1)


class _Unpatch(nn.Module):
    """The inverse folding, then a residual block."""

    def __init__(self, inputs: int, outputs: int, factor: int, mapping_features: int):
        super().__init__()
        self.factor = factor
        self.block = _ResBlock(inputs // factor, outputs, min(factor, outputs), mapping_features)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        b, c, n = x.shape
        x = x.reshape(b, c // self.factor, self.factor, n).permute(0, 1, 3, 2).reshape(b, c // self.factor, -1)
        return self.block(x, mapping)


class _Chain(nn.Module):
    def __init__(self, modules: list[nn.Module]):
        super().__init__()
        self.module_list = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        for module in self.module_list:
            x = module(x, mapping)
        return x


class _SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention over (B, L, C), projections without bias, normed output."""

    def __init__(self, features: int, heads: int, head_features: int):
        super().__init__()
        inner = heads * head_features
        self.heads = heads
        self.norm = _Norm(features)
        self.to_q = nn.Linear(features, inner, bias=False)
        self.to_kv = nn.Linear(features, 2 * inner, bias=False)
        self.attention = nn.Module()
        self.attention.to_out = nn.Sequential(nn.Linear(inner, features, bias=False), _Norm(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        q, k, v = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))
        b, n, inner = q.shape
        q, k, v = (t.reshape(b, n, self.heads, inner // self.heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_features)) v
        return self.attention.to_out(out.transpose(1, 2).reshape(b, n, inner))


class _OverChannels(nn.Module):
    """Apply ``fn`` (which works on (B, L, C)) to (B, C, L)."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x.transpose(1, 2)).transpose(1, 2)


class _Transformer(nn.Module):
    def __init__(self, channels: int, heads: int, head_features: int, multiplier: int):
        super().__init__()
        self.attention = _OverChannels(_SelfAttention(channels, heads, head_features))
        inner = channels * multiplier
        self.feed_forward = nn.Sequential(_ChannelNorm(channels), nn.Conv1d(channels, inner, 1, bias=False), nn.GELU(),
                                          _ChannelNorm(inner), nn.Conv1d(inner, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(x) + x
        return self.feed_forward(x) + x


class _Down(nn.Module):
    def __init__(self, arch: MSDMArchitecture, level: int, mapping_features: int):
        super().__init__()
        inputs, outputs = arch.channels * arch.multipliers[level], arch.channels * arch.multipliers[level + 1]
        factor, km = arch.factors[level], arch.kernel_multiplier_downsample
        self.downsample = nn.Conv1d(inputs, outputs, factor * km + 1, stride=factor, padding=factor * (km // 2))
        self.blocks = nn.ModuleList(_ResBlock(outputs, outputs, arch.resnet_groups, mapping_features)
                                    for _ in range(arch.num_blocks[level]))
        if arch.attentions[level]:
            self.transformer = _Transformer(outputs, arch.attention_heads, arch.attention_features,
                                            arch.attention_multiplier)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, skips = self.downsample(x), []
        for block in self.blocks:
            x = block(x, mapping)
            skips.append(x)
        if hasattr(self, "transformer"):
            x = self.transformer(x)
            skips.append(x)
        return x, skips


class _Up(nn.Module):
    def __init__(self, arch: MSDMArchitecture, level: int, mapping_features: int):
        super().__init__()
        inputs, outputs = arch.channels * arch.multipliers[level + 1], arch.channels * arch.multipliers[level]
        self.skip_scale = 2**-0.5 if arch.use_skip_scale else 1.0
        layers = arch.num_blocks[level] + int(arch.attentions[level])
        self.blocks = nn.ModuleList(_ResBlock(2 * inputs, inputs, arch.resnet_groups, mapping_features)
                                    for _ in range(layers))
        if arch.attentions[level]:
            self.transformer = _Transformer(inputs, arch.attention_heads, arch.attention_features,
                                            arch.attention_multiplier)
        factor = arch.factors[level]
        if factor == 1:
            self.upsample = nn.Conv1d(inputs, outputs, 3, padding=1)
        elif arch.use_nearest_upsample:
            self.upsample = nn.Sequential(nn.Upsample(scale_factor=factor, mode="nearest"),
                                          nn.Conv1d(inputs, outputs, 3, padding=1))
        else:
            self.upsample = nn.ConvTranspose1d(inputs, outputs, 2 * factor, stride=factor,
                                               padding=factor // 2 + factor % 2, output_padding=factor % 2)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor], mapping: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(torch.cat([x, skips.pop() * self.skip_scale], dim=1), mapping)
        if hasattr(self, "transformer"):
            x = self.transformer(x)
        return self.upsample(x)


class _Bottleneck(nn.Module):
    def __init__(self, arch: MSDMArchitecture, mapping_features: int):
        super().__init__()
        channels = arch.channels * arch.multipliers[-1]
        self.pre_block = _ResBlock(channels, channels, arch.resnet_groups, mapping_features)
        if arch.use_attention_bottleneck:
            self.attention = _OverChannels(_SelfAttention(channels, arch.attention_heads, arch.attention_features))
        self.post_block = _ResBlock(channels, channels, arch.resnet_groups, mapping_features)

    def forward(self, x: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        x = self.pre_block(x, mapping)
        if hasattr(self, "attention"):
            x = self.attention(x)
        return self.post_block(x, mapping)


class _FourierTime(nn.Module):
    """``[t, sin(2 pi w t), cos(2 pi w t)]`` with learnt frequencies ``w`` of shape (dim / 2,)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * t[:, None] * self.weights[None]
        return torch.cat([t[:, None], angles.sin(), angles.cos()], dim=-1)


class MSDMUNet(nn.Module):
    """The network (see the module docstring): ``forward(x (B, C, L), time (B,)) -> (B, C, L)``."""

    def __init__(self, arch: MSDMArchitecture):
        super().__init__()
        self.arch = arch
        c, p, blocks, k = arch.channels, arch.patch_factor, arch.patch_blocks, arch.in_channels
        mapping = 4 * c
        self.to_time = nn.Sequential(nn.Sequential(_FourierTime(c), nn.Linear(c + 1, mapping)), nn.GELU())
        self.to_mapping = nn.Sequential(nn.Linear(mapping, mapping), nn.GELU(), nn.Linear(mapping, mapping), nn.GELU())
        into = [k * p**i for i in range(blocks + 1)]
        into[-1] = c                                    # channels after each patch block
        self.to_in = _Chain([_Patch(into[i], into[i + 1], p, mapping) for i in range(blocks)])
        self.downsamples = nn.ModuleList(_Down(arch, i, mapping) for i in range(len(arch.factors)))
        self.bottleneck = _Bottleneck(arch, mapping)
        self.upsamples = nn.ModuleList(_Up(arch, i, mapping) for i in reversed(range(len(arch.factors))))
        self.to_out = _Chain([_Unpatch(into[i + 1], k * p**i, p, mapping) for i in reversed(range(blocks))])

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        mapping = self.to_mapping(self.to_time(time))
        x = self.to_in(x, mapping)
        skips = [x]
        for down in self.downsamples:
            x, level_skips = down(x, mapping)
            skips.append(level_skips)
        x = self.bottleneck(x, mapping)
        for up in self.upsamples:
            x = up(x, skips.pop(), mapping)
        return self.to_out(x + skips.pop(), mapping)
