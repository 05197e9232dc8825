"""The learned lesion backend: a conditional diffusion prior inpaints each lesion with ProjDiff.

The prior (``projdiff train --preset lesions``) models S axial slices of CT in window units,
conditioned on the lesion and organ mask stacks; its card (``lesion_prior.LesionPriorCard``) gives S,
the crop size, the HU window and the voxel spacing it was trained at. Per lesion (one ``synthesize`` call on
a crop around it):

1. Redrawn region: the organ voxels within ``margin_mm`` (default 3 mm) of the lesion. Everything
   else in the crop is observed, exactly.
2. Units and grid: HU -> window units [0, 1]; the crop and its masks are resampled (linearly) to the
   prior's spacing when the CT's differs by more than 1 % (and back after; the CT's detail that this
   round trip loses, its fine noise, is added back to the redrawn region, so a lesion drawn on a
   coarser grid carries the CT's own noise). In-plane the crop is padded (mirrored,
   observed) to at least the training crop size and to a multiple of the UNet's size multiple;
   along the slice axis to at least S slices.
3. Stacks: the prior sees S slices at a time. Redrawn slices that fit in one window (with a slice
   of context on each side) get one window centred on them; taller lesions get windows sliding
   along the slice axis, consecutive windows sharing at least ``overlap`` slices (default S / 2),
   solved in order. The slices a window generated are observed by the windows after it, so the
   lesion continues across windows instead of being drawn twice.
4. Each window: ``solve(MeanInpainting(observed, lesion), AffinePrior.unit_interval(
   prior.with_condition([lesion stack, organ stack])), y, steps=steps)``, noiseless, one posterior
   sample (``step_size`` "auto": a sample, not a point estimate), seeded from the generator, on
   Karras noise levels over the prior's whole range (``karras_sigmas``: the schedule every lesion
   number in ``benchmarks/RESULTS.md`` was measured with, pinned here rather than following the
   engine's default, which starts ProjDiff at 4 sigma_data). ``y``
   holds the observed voxels and, on the window's unobserved lesion voxels, the lesion's target mean
   (``mean_inpainting``); with ``lesion_type="free"`` only the observed voxels (plain ``Inpainting``).
5. Back to HU on the CT's grid; the proposal is the sample inside the redrawn region and the CT
   elsewhere, blended with the redrawn region blurred by ``edge_mm`` (``lesion_backend.blend``).
   So voxels outside the organ, or farther than ``margin_mm`` from the lesion, never change. With a
   target mean, resampling back to the CT's grid and the blended edge move the lesion's mean by a few
   HU (they mix in the margin); one constant shift of the lesion's voxels puts it back on the target.

Relative to the organ around the lesion (``local_normalisation.LocalNormalisation``): the organ voxels
of the crop outside the redrawn region give the organ's HU (median) and spread (1.4826 x MAD). The
lesion's target mean is drawn from its type's range, 5 HU inside each end of a relative one
(``lesion_types``: hypodense by default, organ - 80 .. organ - 20 HU). Before the prior sees the
crop, its HU are shifted and scaled so that the organ's median and spread fall into the ranges the
prior was trained on (25-65 HU and 9-22 HU, the phantom organs'); the sample is mapped back after.
Crops already inside those ranges are left as they are.
Texture is held the same way: back in HU, the lesion's deviations from its mean are scaled so that the
HU spread of its core over that of the organ within 5 mm around it lies in the type's ``texture_ratio``
(hypodense and hyperdense 0.9-1.6, cystic 0.6-1.1; free: the prior's own). Lesion stacks drawn on CT
unlike the phantoms came out grainier than the liver around them without it (2.5 x on the real slice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from projdiff.apps.tumor.ct.crops import resample, same_spacing, shape_at
from projdiff.apps.tumor.ct.hu import HUWindow
from projdiff.apps.tumor.lesion_backend import blend, soft_lesion_mask
from projdiff.apps.tumor.lesion_prior import LesionPriorCard
from projdiff.apps.tumor.lesion_stats import lesion_core, organ_ring, ring_box
from projdiff.apps.tumor.lesion_types import DEFAULT_LESION_TYPE, LesionType, lesion_type
from projdiff.apps.tumor.local_normalisation import LocalNormalisation
from projdiff.apps.tumor.mean_inpainting import MeanInpainting
from projdiff.engine import karras_sigmas, solve
from projdiff.operators import Inpainting
from projdiff.priors import AffinePrior, DiffusersPrior, load_prior
from projdiff.utils.provenance import checkpoint_info
from projdiff.utils.seeds import derive_seed

DEFAULT_PRIOR = "bundled:lesions"
TEXTURE_MARGIN = 0.02  # aim this fraction inside the type's texture range: the blended edge shifts it a little


def stack_starts(first: int, last: int, depth: int, slices: int, overlap: int) -> list[int]:
    """First slices of the S-slice windows that cover slices ``first..last`` of a ``depth``-slice crop.

    One window centred on them when they fit with a slice of context on each side; otherwise
    windows from one slice before ``first`` to one after ``last`` (clipped to the crop), evenly
    spaced, consecutive ones sharing at least ``overlap`` slices. Requires ``depth >= slices``.
    """
    if last - first + 3 <= slices:
        return [min(max((first + last + 1 - slices) // 2, 0), depth - slices)]
    low = min(max(first - 1, 0), depth - slices)
    high = min(max(last + 2 - slices, 0), depth - slices)
    count = -(-(high - low) // (slices - overlap)) + 1
    return sorted({low + (high - low) * i // max(count - 1, 1) for i in range(count)})


@dataclass(eq=False)
class ProjDiffLesion:
    """Lesion appearance from a conditional lesion prior (see the module docstring).

    Parameters
    ----------
    prior : DiffusersPrior
        A conditional lesion prior (metadata kind "lesion", 2 S condition channels).
    steps : int
        Noise levels per window (default 50).
    spacing : (float, float, float), optional
        Voxel size (mm) of the CT crops this backend receives; None = the prior's spacing.
    margin_mm : float
        Organ voxels within this distance of the lesion are redrawn (default 3 mm).
    edge_mm : float
        Blur of the redrawn region for the blend (default 1.5 mm).
    overlap : int, optional
        Slices shared by consecutive windows (default S // 2).
    step_size : float or "auto"
        ProjDiff step size (default "auto").
    checkpoint : dict, optional
        ``{"source", "sha256"}`` of the prior, for the sidecars.
    lesion_type : str
        ``lesion_types.LESION_TYPES`` name (default "hypodense"; "free" = no constraint).
    normalise : bool
        Map the organ around the lesion into the training ranges (default True; ``LocalNormalisation``).
    restore_detail : bool
        When the CT is resampled to the prior's grid, add back to the redrawn region the detail of the
        CT that the round trip loses (its fine noise), default True.
    """

    prior: DiffusersPrior
    steps: int = 50
    spacing: tuple[float, float, float] | None = None
    margin_mm: float = 3.0
    edge_mm: float = 1.5
    overlap: int | None = None
    step_size: float | str = "auto"
    checkpoint: dict | None = None
    lesion_type: str = DEFAULT_LESION_TYPE
    normalise: bool = True
    restore_detail: bool = True
    name: str = "projdiff"

    def __post_init__(self) -> None:
        self.type: LesionType = lesion_type(self.lesion_type)
        self.card = LesionPriorCard.from_dict(self.prior.metadata)
        if self.prior.condition_channels != 2 * self.card.slices:
            raise ValueError(f"prior: not a lesion prior ({self.prior.condition_channels} condition channels, "
                             f"expected 2 x {self.card.slices}); train one with 'projdiff train --preset lesions'")
        self.overlap = self.slices // 2 if self.overlap is None else int(self.overlap)
        if self.steps < 1 or not 1 <= self.overlap < self.slices or self.margin_mm < 0 or self.edge_mm <= 0:
            raise ValueError(f"projdiff backend: expected steps >= 1, 1 <= overlap < {self.slices}, margin_mm >= 0 "
                             f"and edge_mm > 0, got {self.steps}, {self.overlap}, {self.margin_mm}, {self.edge_mm}")

    @classmethod
    def load(cls, prior: str = DEFAULT_PRIOR, device=None, dtype=None, **options) -> "ProjDiffLesion":
        """The backend with the prior ``bundled:NAME`` / folder ``prior`` (options as the constructor's),
        the prior moved to ``device`` with weights of ``dtype`` (default: the CPU, float32)."""
        return cls(load_prior(prior).to(device=device, dtype=dtype), checkpoint=checkpoint_info(prior), **options)

    @property
    def slices(self) -> int:
        return self.card.slices

    @property
    def window(self) -> HUWindow:
        return self.card.window

    @property
    def prior_spacing(self) -> tuple[float, float, float]:
        return self.card.spacing_mm

    def synthesize(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, organ_mask: np.ndarray,
                   generator: np.random.Generator) -> np.ndarray:
        """See ``LesionSynthesizer.synthesize``."""
        ct = np.asarray(ct_hu, np.float32)
        lesion = lesion_mask & organ_mask
        if not lesion.any():
            return ct.copy()
        seed = int(generator.integers(2 ** 62))
        spacing = self.prior_spacing if self.spacing is None else tuple(self.spacing)
        redraw = (ndimage.distance_transform_edt(~lesion, sampling=spacing) <= self.margin_mm) & organ_mask
        norm = LocalNormalisation.around(ct, organ_mask, redraw)
        if not self.normalise:
            norm = LocalNormalisation(norm.organ_hu, norm.organ_hu, 1.0)
        target = self.type.target_hu(norm.organ_hu, generator)
        target_unit = None if target is None else float(self.window.to_unit(norm.forward(np.float32(target))))
        same = same_spacing(spacing, self.prior_spacing)
        shape = ct.shape if same else shape_at(ct.shape, spacing, self.prior_spacing)
        drawn = self._inpaint(resample(self.window.to_unit(norm.forward(ct)), shape), resample(redraw, shape) > 0,
                              resample(lesion, shape) > 0.5, resample(organ_mask, shape) > 0.5, seed, target_unit)
        proposal = norm.inverse(self.window.to_hu(resample(drawn, ct.shape)))
        if self.restore_detail and not same:  # the CT's own fine noise, which the prior's coarser grid cannot hold
            proposal += ct - resample(resample(ct, shape), ct.shape)
        proposal = np.where(redraw, proposal, ct)
        soft = soft_lesion_mask(redraw, organ_mask, [self.edge_mm / s for s in spacing])
        proposal = self._match_texture(proposal, blend(ct, proposal, soft), lesion, organ_mask, spacing)
        if target is not None:  # resampling back and the blended edge moved the mean a little: shift it back
            mixed = ct[lesion] + soft[lesion] * (proposal[lesion] - ct[lesion])
            proposal[lesion] += (target - float(mixed.mean())) / max(float(soft[lesion].mean()), 1e-3)
        return blend(ct, proposal, soft)

    def _match_texture(self, proposal: np.ndarray, blended: np.ndarray, lesion: np.ndarray, organ: np.ndarray,
                       spacing) -> np.ndarray:
        """``proposal`` with the lesion's deviations from its mean scaled so that its core's HU spread over the
        organ ring's lies in the type's ``texture_ratio`` (``lesion_types``); unchanged when free. The ring is
        measured in ``blended``, the output this proposal gives (its redrawn margin is part of the ring)."""
        if self.type.texture_ratio is None:
            return proposal
        box = ring_box(lesion, spacing)
        ring = organ_ring(lesion[box], organ[box], spacing)
        core = lesion_core(lesion[box], spacing)
        if not ring.any():
            return proposal
        factor = self.type.texture_scale(float(proposal[box][core].std()), float(blended[box][ring].std()),
                                         TEXTURE_MARGIN)
        out = proposal.copy()
        values = out[lesion]
        out[lesion] = values.mean() + factor * (values - values.mean())
        return out

    def _inpaint(self, unit: np.ndarray, redraw: np.ndarray, lesion: np.ndarray, organ: np.ndarray,
                 seed: int, target: float | None = None) -> np.ndarray:
        """Window units (D, H, W) in the prior's grid with the ``redraw`` voxels sampled by the prior
        (the unobserved ``lesion`` voxels of each window with mean ``target``, window units, unless None)."""
        slices, multiple, crop = self.slices, self.prior.size_multiple, self.card.crop
        sizes = [max(unit.shape[0], slices)] + [max(n, crop) + (-max(n, crop)) % multiple for n in unit.shape[1:]]
        pads = [((t - n) // 2, t - n - (t - n) // 2) for t, n in zip(sizes, unit.shape)]
        x = np.pad(unit, pads, mode="symmetric")
        known = np.pad(~redraw, pads, constant_values=True)
        condition = np.stack([np.pad(lesion, pads), np.pad(organ, pads)]).astype(np.float32)
        rows = np.flatnonzero(~known.all(axis=(1, 2)))
        param = next(self.prior.parameters())
        for k, start in enumerate(stack_starts(int(rows[0]), int(rows[-1]), x.shape[0], slices, self.overlap)):
            window = slice(start, start + slices)
            observed = known[window]
            if observed.all():
                continue
            stack = condition[:, window].reshape(1, 2 * slices, *x.shape[1:])
            bound = self.prior.with_condition(torch.from_numpy(stack).to(param.device))
            operator, y = self._observation(observed, condition[0, window] > 0, x[window], target)
            prior = AffinePrior.unit_interval(bound)
            result = solve(operator.to(param.device), prior, torch.from_numpy(y)[None].to(param.device),
                           steps=self.steps, seed=derive_seed("projdiff-lesion", seed, k), progress=False,
                           step_size=self.step_size, sigmas=self.sigmas(prior))
            x[window] = np.where(observed, x[window], np.clip(result.x[0].float().cpu().numpy(), 0.0, 1.0))
            known[window] = True
        return x[tuple(slice(before, before + n) for (before, _), n in zip(pads, unit.shape))]

    def sigmas(self, prior) -> torch.Tensor:
        """The noise levels of every window: Karras (rho = 7) over ``prior``'s range, ``steps`` of them."""
        return karras_sigmas(self.steps, float(prior.sigma_min), float(prior.sigma_max))

    @staticmethod
    def _observation(observed: np.ndarray, lesion: np.ndarray, x: np.ndarray, target: float | None):
        """The window's operator and measurement: observed voxels, and the unobserved lesion's mean ``target``."""
        region = lesion & ~observed
        if target is None or not region.any():
            return Inpainting(torch.from_numpy(observed.astype(np.float32))), (x * observed).astype(np.float32)
        y = (x * observed + region * np.float32(target)).astype(np.float32)
        return MeanInpainting(torch.from_numpy(observed), torch.from_numpy(region)), y
