"""The lesion prior trained against the discriminator, with the judge in the loop (FreeTumor's GAN step).

FreeTumor trains its lesion generator against two networks: a voxel-wise real-versus-synthetic
discriminator (trained with it) and the frozen tumor segmenter (the judge of the quality filter),
with the generator loss ``0.1 * adversarial + 1 * judge``: it must fool the discriminator *and* make
lesions the judge detects. Here the generator is the conditional lesion prior (a denoiser
``D(x, sigma | lesion, organ)``), the discriminator the voxel-wise ``SliceSegmenter`` of
``projdiff.apps.tumor.discriminator`` and the judge that of ``projdiff.apps.tumor.judge``. Each step:

1. **Generator proposal.** For a batch of real training crops ``x`` (S slices, model units [-1, 1],
   with their lesion and organ masks), a noise level ``sigma`` per crop drawn log-uniformly in
   ``sigma_range``, the one-step estimate ``x_hat = D(x + sigma eps, sigma)``, and the synthetic crop
   ``fake = x_hat`` inside the redrawn region (the lesion grown by ``margin`` voxels in-plane, within
   the organ; the ProjDiff backend redraws the same kind of region) and ``x`` elsewhere. Low noise
   levels, where ``x_hat`` already carries the lesion's texture: at high levels it is a blurred mean
   that no realism loss should sharpen, or the prior would stop being a denoiser.
2. **Discriminator step.** Real crops are labelled "nothing synthetic", synthetic ones "synthetic
   inside the lesion"; the loss is the segmenter's (binary cross-entropy plus soft Dice) on the
   2.5D slice stacks of both.
3. **Generator step.** The prior's usual denoising loss (``projdiff.priors.prediction.denoising_loss``, so it
   stays a diffusion prior) plus ``adversarial_weight`` times the non-saturating adversarial loss
   (cross-entropy of the verdict "real" on the lesion voxels of ``fake``) plus ``judge_weight``
   times the judge's loss (cross-entropy of "tumor" on the same voxels).

Why the judge term: the discriminator's "real" class holds healthy tissue as well as real lesions, so
against it alone the cheapest way to look real is to paint healthy tissue into the lesion; a run
without the judge did exactly that (``benchmarks/RESULTS.md``, realism section). FreeTumor's
discriminator has a third class (real tumor) for the same reason; the judge term plays that part.

The result is a fine-tuned prior (same architecture, metadata and scheduler; loads wherever the lesion
prior does) and a discriminator trained against a moving generator; the held-out denoising loss
before and after is recorded so that a prior that gave up denoising for realism is visible.

Experimental. Measured here (``benchmarks/realism.py``, five weightings, 600 steps each): no setting
made the lesions more realistic. With the judge in the loss the generator learns noisy textures that
the judge detects (85-123 HU standard deviation inside lesions against 21 HU for real ones) and the
denoiser degrades; the shipped prior and discriminator are therefore not fine-tuned.

Command (outputs ``OUT/prior`` and ``OUT/discriminator``, with ``OUT/log.jsonl`` and ``OUT/info.json``)::

    projdiff tumor finetune-adversarial --data runs/data/lesions --prior runs/lesion-prior \\
        --discriminator runs/tumor-discriminator --judge runs/tumor-judge --out runs/adversarial --steps 600
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from projdiff.apps.tumor.discriminator import DISCRIMINATOR_KIND
from projdiff.apps.tumor.judge import JUDGE_KIND
from projdiff.apps.tumor.lesion_crops import LesionCropSpec, lesion_training_data, read_manifest
from projdiff.apps.tumor.lesion_prior import LesionPriorCard
from projdiff.apps.tumor.segmenter import SliceSegmenter, load_frozen, save_segmenter, segmentation_loss
from projdiff.priors import DiffusersPrior, load_prior
from projdiff.priors.prediction import denoising_loss, heldout_loss
from projdiff.utils.files import write_bytes, write_json
from projdiff.utils.seeds import derive_seed


@dataclass(frozen=True)
class AdversarialConfig:
    """Settings of ``adversarial_finetune``.

    Parameters
    ----------
    steps : int
        Alternating generator / discriminator steps (default 400).
    batch_size : int
        Training crops per step (default 16).
    generator_lr, discriminator_lr : float
        AdamW learning rates (defaults 2e-5 and 2e-4).
    adversarial_weight : float
        Weight of the adversarial loss beside the denoising loss (default 0.1, FreeTumor's).
    judge_weight : float
        Weight of the judge's loss (default 1, FreeTumor's); 0 leaves the judge out.
    sigma_range : (float, float)
        Noise levels of the generator's proposals, model units (default 0.05 to 0.5).
    margin : int
        In-plane growth of the lesion into the organ for the redrawn region, voxels (default 2).
    seed : int
    """

    steps: int = 400
    batch_size: int = 16
    generator_lr: float = 2e-5
    discriminator_lr: float = 2e-4
    adversarial_weight: float = 0.1
    judge_weight: float = 1.0
    sigma_range: tuple[float, float] = (0.05, 0.5)
    margin: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        low, high = self.sigma_range
        weights = (self.adversarial_weight, self.judge_weight)
        if self.steps < 1 or self.batch_size < 1 or not 0 < low <= high or min(weights) < 0 or self.margin < 0:
            raise ValueError("adversarial training: expected steps >= 1, batch_size >= 1, 0 < sigma_range[0] <= "
                             f"sigma_range[1], weights >= 0 and margin >= 0, got {self}")


def redrawn_region(lesion: torch.Tensor, organ: torch.Tensor, margin: int) -> torch.Tensor:
    """The lesion (N, S, H, W) grown by ``margin`` voxels in-plane, within the organ (float 0/1)."""
    grown = F.max_pool2d(lesion, 2 * margin + 1, stride=1, padding=margin) if margin else lesion
    return grown * organ


def slice_stacks(volume: torch.Tensor, context: int) -> torch.Tensor:
    """(N, S, H, W) -> (N * (S - 2c), 2c + 1, H, W): the 2.5D inputs of every slice with full context."""
    n, s = volume.shape[:2]
    windows = volume.unfold(1, 2 * context + 1, 1)                        # (N, S - 2c, H, W, 2c + 1)
    return windows.permute(0, 1, 4, 2, 3).reshape(n * (s - 2 * context), 2 * context + 1, *volume.shape[2:])


def centre_slices(volume: torch.Tensor, context: int) -> torch.Tensor:
    """(N, S, H, W) -> (N * (S - 2c), 1, H, W): the centre slices matching ``slice_stacks``."""
    inner = volume[:, context : volume.shape[1] - context]
    return inner.reshape(-1, 1, *volume.shape[2:])


def propose(prior: DiffusersPrior, crops: torch.Tensor, slices: int, config: AdversarialConfig,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Real crops (N, S, H, W), synthetic crops (differentiable in the prior's weights) and lesion masks.

    ``crops`` are lesion-crop items (N, 3S, H, W): image in [-1, 1], lesion mask, organ mask.
    """
    x, lesion, organ = crops[:, :slices], crops[:, slices : 2 * slices], crops[:, 2 * slices :]
    low, high = (math.log(v) for v in config.sigma_range)
    sigma = torch.exp(low + (high - low) * torch.rand(x.shape[0], generator=generator)).to(x.device)
    noisy = x + sigma[:, None, None, None] * torch.randn(x.shape, generator=generator).to(x.device)
    estimate = prior.denoise(noisy, sigma, torch.cat([lesion, organ], dim=1)).clamp(-1.0, 1.0)
    region = redrawn_region(lesion, organ, config.margin)
    return x, region * estimate + (1 - region) * x, lesion


def _verdict(model: SliceSegmenter, crops: torch.Tensor) -> torch.Tensor:
    """The model's logits for the centre slices of (N, S, H, W) model-unit crops."""
    return model(slice_stacks((crops + 1.0) / 2.0, model.config.context))


def discriminator_loss(discriminator: SliceSegmenter, real: torch.Tensor, fake: torch.Tensor,
                       lesion: torch.Tensor) -> torch.Tensor:
    """Segmenter loss for "nothing synthetic" on ``real`` and "the lesion is synthetic" on ``fake``."""
    context = discriminator.config.context
    target = torch.cat([torch.zeros_like(centre_slices(lesion, context)), centre_slices(lesion, context)])
    return segmentation_loss(_verdict(discriminator, torch.cat([real, fake])), target)


def lesion_voxel_loss(model: SliceSegmenter, fake: torch.Tensor, lesion: torch.Tensor, wanted: float) -> torch.Tensor:
    """Cross-entropy of the model's verdict ``wanted`` (0 or 1) over the lesion voxels of ``fake``.

    With the discriminator and ``wanted=0`` ("not synthetic") it is the non-saturating adversarial
    loss; with the judge and ``wanted=1`` ("tumor") the judge's loss.
    """
    logits = _verdict(model, fake)
    voxels = centre_slices(lesion, model.config.context) > 0.5
    if not bool(voxels.any()):
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[voxels], torch.full_like(logits[voxels], wanted))


def adversarial_finetune(data: str | Path, prior: str | Path, discriminator: str | Path, judge: str | Path,
                         out: str | Path, config: AdversarialConfig = AdversarialConfig(),
                         progress: bool = True, device=None) -> dict:
    """Train the lesion prior ``prior`` and the discriminator ``discriminator`` against each other, with
    the frozen judge ``judge`` in the generator's loss.

    ``data`` is the lesion-crop cache the prior was trained on. Writes ``out/prior`` (a diffusers
    folder), ``out/discriminator`` (a segmenter folder of kind ``tumor-discriminator``),
    ``out/log.jsonl`` (per-step losses) and ``out/info.json``; returns the info. ``device`` (default
    the CPU) is where the three networks run; random draws stay on the CPU.
    """
    spec = LesionCropSpec.from_dict(read_manifest(data)["spec"])
    device = torch.device(device or "cpu")
    model = load_prior(str(prior)).to(device)
    LesionPriorCard.from_dict(model.metadata, f"--prior {prior}")
    critic, critic_checkpoint = load_frozen(discriminator, DISCRIMINATOR_KIND, "--discriminator")
    detector, detector_checkpoint = load_frozen(judge, JUDGE_KIND, "--judge")
    critic, detector = critic.to(device), detector.to(device)
    detector.requires_grad_(False)
    train_set, validation, _ = lesion_training_data(data, spec.slices, spec.size, config.seed, progress=progress)
    validation = validation.to(device)
    unet, scheduler = model.unet, model.scheduler
    before = heldout_loss(unet, scheduler, validation)
    g_opt = torch.optim.AdamW(unet.parameters(), lr=config.generator_lr)
    d_opt = torch.optim.AdamW(critic.parameters(), lr=config.discriminator_lr)
    generator = torch.Generator().manual_seed(derive_seed("adversarial", config.seed))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, started = [], time.perf_counter()
    order = np.random.default_rng(derive_seed("adversarial-order", config.seed)).permutation(len(train_set))
    unet.train()
    critic.train()
    for step in tqdm(range(config.steps), desc="adversarial", unit="step", disable=not progress):
        picks = [int(order[(step * config.batch_size + j) % len(order)]) for j in range(config.batch_size)]
        crops = torch.stack([train_set[i] for i in picks]).to(device)
        real, fake, lesion = propose(model, crops, spec.slices, config, generator)

        d_loss = discriminator_loss(critic, real, fake.detach(), lesion)
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()

        critic.requires_grad_(False)
        fooling = lesion_voxel_loss(critic, fake, lesion, wanted=0.0)
        detected = lesion_voxel_loss(detector, fake, lesion, wanted=1.0)
        denoise = denoising_loss(unet, scheduler, crops, generator, 2 * spec.slices)
        g_opt.zero_grad(set_to_none=True)
        (denoise + config.adversarial_weight * fooling + config.judge_weight * detected).backward()
        g_opt.step()
        critic.requires_grad_(True)
        records.append({"step": step + 1, "discriminator": d_loss.item(), "adversarial": fooling.item(),
                        "judge": detected.item(), "denoising": denoise.item()})
    unet.eval()
    critic.eval()
    write_bytes(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    after = heldout_loss(unet, scheduler, validation)
    last = records[-50:]
    info = {"data": str(data), "prior": str(prior), "discriminator": critic_checkpoint, "judge": detector_checkpoint,
            "config": asdict(config), "seconds": round(time.perf_counter() - started, 1),
            "heldout_denoising_loss": {"before": before, "after": after},
            "last_50_steps": {key: float(np.mean([r[key] for r in last]))
                              for key in ("discriminator", "adversarial", "judge", "denoising")}}
    model.metadata = {**model.metadata, "adversarial": {k: info[k] for k in ("config", "heldout_denoising_loss")}}
    model.save_pretrained(out / "prior")
    save_segmenter(out / "discriminator", critic, DISCRIMINATOR_KIND,
                   {"adversarial": True, "generator": str(out / "prior"), **{k: info[k] for k in ("data", "config")}})
    write_json(out / "info.json", info)
    return info
