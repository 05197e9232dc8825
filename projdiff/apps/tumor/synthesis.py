"""Tumor-in-CT synthesis: place lesion masks in an organ and draw them with a backend.

The files written per case are described in ``outputs.py``.

Lesion k of a case uses the seed ``derive_seed("tumor", seed, case name, organ, k)`` for its mask
and ``derive_seed("appearance", that seed)`` for its appearance (attempt a > 0 of the quality
filter: ``derive_seed("appearance", that seed, a)``), so it does not depend on the other lesions'
draws.

Quality filter (``QualityFilter``): after drawing a lesion the judge scores it on the CT (with the
lesions accepted before it); the lesion is accepted when its score ``fraction`` reaches the
threshold and, with the optional second judge (a real-versus-synthetic discriminator,
``projdiff.apps.tumor.discriminator``), its ``realism`` reaches ``realism_threshold``. A rejected
lesion is redrawn with a new appearance seed (same mask), up to ``retries`` more times; if no
attempt passes, the lesion is dropped: its voxels get their original values back
and its labels stay those of the organ (its sidecar and PNG are still written, ``accepted`` false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from projdiff.apps.tumor.ct.cases import Case
from projdiff.apps.tumor.ct.volume import require_3d
from projdiff.apps.tumor.handcrafted_lesion import HandcraftedLesion
from projdiff.apps.tumor.lesion_backend import LesionSynthesizer, lesion_box
from projdiff.apps.tumor.lesion_masks import LesionMask, sample_lesion_masks
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion
from projdiff.utils.seeds import derive_seed

BACKENDS: dict[str, Callable[..., LesionSynthesizer]] = {"handcrafted": HandcraftedLesion,
                                                         "projdiff": ProjDiffLesion.load}
CROP_MARGIN = 16  # voxels around a lesion's bounding box that a backend sees
MIN_ORGAN_SLICES = 3  # the 2.5D window of the judge and the segmenters: a lesion's slice and one on each side


class Judge(Protocol):
    """Scores a lesion drawn into a CT (``projdiff.apps.tumor.judge.TumorJudge``)."""

    checkpoint: dict

    def score(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, spacing: Sequence[float],
              organ_mask: np.ndarray | None = None) -> dict:
        """``{"fraction": share of the lesion's voxels judged tumor, ...}`` for the (D, H, W) HU CT (the
        host organ's mask, when given, makes the judgement organ-relative)."""
        ...


@dataclass(frozen=True)
class QualityFilter:
    """Accept a lesion when ``judge.score(...)["fraction"] >= threshold`` (and, with a ``discriminator``,
    its ``score(...)["realism"] >= realism_threshold``); redraw up to ``retries`` times."""

    judge: Judge
    threshold: float = 0.5
    retries: int = 10
    discriminator: Judge | None = None
    realism_threshold: float = 0.5

    def __post_init__(self) -> None:
        for flag, value in (("--threshold", self.threshold), ("--realism-threshold", self.realism_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{flag}: expected a number in [0, 1], got {value}")
        if self.retries < 0:
            raise ValueError(f"--retries: expected an int >= 0, got {self.retries}")

    def assess(self, ct_hu: np.ndarray, lesion_mask: np.ndarray, spacing: Sequence[float],
               organ_mask: np.ndarray | None = None) -> tuple[dict, bool]:
        """The judges' scores of one drawn lesion (in the organ ``organ_mask``) and whether it passes."""
        score = self.judge.score(ct_hu, lesion_mask, spacing, organ_mask)
        passed = score["fraction"] >= self.threshold
        if self.discriminator is not None:
            score = {**score, **self.discriminator.score(ct_hu, lesion_mask, spacing, organ_mask)}
            passed = passed and score["realism"] >= self.realism_threshold
        return score, passed


@dataclass(eq=False)
class SynthesizedLesion:
    """A lesion drawn into the CT, with the quality filter's scores (one dict per attempt) if any."""

    placement: LesionMask
    backend: str
    scores: list[dict] | None = None
    accepted: bool = True


@dataclass(eq=False)
class TumorResult:
    """The case with its lesions: ``ct_hu`` (D, H, W) float32 HU, ``labels`` (D, H, W) uint8 (label space)."""

    case: Case
    organ: str
    ct_hu: np.ndarray
    labels: np.ndarray
    seed: int
    size_mm: tuple[float, float]
    lesions: list[SynthesizedLesion] = field(default_factory=list)
    quality: QualityFilter | None = None
    backend_checkpoint: dict | None = None
    lesion_type: str | None = None

    @property
    def lesion_mask(self) -> np.ndarray:
        """(D, H, W) bool: the accepted synthetic lesions."""
        mask = np.zeros(self.ct_hu.shape, bool)
        for lesion in self.lesions:
            if lesion.accepted:
                mask |= lesion.placement.mask
        return mask


def make_backend(name: str, **options) -> LesionSynthesizer:
    """The backend ``name`` of ``BACKENDS`` built with ``options`` (e.g. ``prior``, ``steps``, ``spacing``)."""
    if name not in BACKENDS:
        raise ValueError(f"--backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    return BACKENDS[name](**options)


def check_thickness(organ_mask: np.ndarray, organ: str, slice_mm: float, source: str) -> None:
    """ValueError unless ``organ_mask`` (D, H, W) spans ``MIN_ORGAN_SLICES`` consecutive slices somewhere."""
    run = longest = np.zeros(organ_mask.shape[1:], np.int32)
    for layer in organ_mask:
        run = np.where(layer, run + 1, 0)
        longest = np.maximum(longest, run)
    thickest = int(longest.max())
    if thickest < MIN_ORGAN_SLICES:
        raise ValueError(f"{source}: organ {organ!r} is {thickest} slice(s) thick ({thickest * slice_mm:g} mm); "
                         f"lesions need at least {MIN_ORGAN_SLICES} slices (the 2.5D window: the lesion's slice and "
                         f"one on each side); use a CT with thinner slices or a mask over more slices")


def appearance_seed(lesion_seed: int, attempt: int) -> int:
    """The appearance seed of a lesion's attempt (0 = the first draw)."""
    return derive_seed("appearance", lesion_seed) if attempt == 0 else derive_seed("appearance", lesion_seed, attempt)


def synthesize_tumors(case: Case, organ: str, count: int, size_mm: tuple[float, float],
                      backend: LesionSynthesizer, seed: int = 0, quality: QualityFilter | None = None) -> TumorResult:
    """Place ``count`` lesions of radius ``size_mm`` (mm) in ``organ`` and draw them with ``backend``.

    With ``quality`` every lesion is scored, redrawn or dropped (see the module docstring).
    Raises ValueError for a 2D case, an unknown or empty organ, an organ thinner than
    ``MIN_ORGAN_SLICES`` slices, or no room for the lesions.
    """
    require_3d(case.ct)
    organ_mask = case.organ_mask(organ)
    check_thickness(organ_mask, organ, case.ct.spacing[0], case.ct.source)
    seeds = [derive_seed("tumor", seed, case.name, organ, k) for k in range(count)]
    placements = sample_lesion_masks(organ_mask, case.ct.spacing, count, size_mm, seeds, organ)
    ct = case.ct.array.astype(np.float32, copy=True)
    labels = case.labels.copy()
    result = TumorResult(case, organ, ct, labels, seed, size_mm, quality=quality,
                         backend_checkpoint=getattr(backend, "checkpoint", None),
                         lesion_type=getattr(backend, "lesion_type", None))
    for placement in placements:
        box = lesion_box(placement.mask, CROP_MARGIN)
        original = ct[box].copy()
        if quality is None:
            ct[box] = backend.synthesize(original, placement.mask[box], organ_mask[box],
                                         np.random.default_rng(appearance_seed(placement.seed, 0)))
            scores, accepted = None, True
        else:
            scores, accepted = _filtered_draws(ct, box, placement, organ_mask, backend, quality, case.ct.spacing)
        if accepted:
            labels[placement.mask] = case.label_space.tumor_code
        else:
            ct[box] = original
        result.lesions.append(SynthesizedLesion(placement, backend.name, scores, accepted))
    return result


def _filtered_draws(ct: np.ndarray, box: tuple[slice, slice, slice], placement: LesionMask, organ_mask: np.ndarray,
                    backend: LesionSynthesizer, quality: QualityFilter,
                    spacing: tuple[float, float, float]) -> tuple[list[dict], bool]:
    """Draw the lesion into ``ct[box]`` until the judge accepts it or the retries run out.

    Returns the scores of every attempt and whether the last one was accepted (``ct[box]`` then
    holds it; otherwise it holds the last rejected draw, for the caller to restore).
    """
    original = ct[box].copy()
    scores = []
    for attempt in range(1 + quality.retries):
        drawn_seed = appearance_seed(placement.seed, attempt)
        ct[box] = backend.synthesize(original, placement.mask[box], organ_mask[box], np.random.default_rng(drawn_seed))
        score, passed = quality.assess(ct, placement.mask, spacing, organ_mask)
        scores.append({"attempt": attempt, "appearance_seed": drawn_seed, **score})
        if passed:
            return scores, True
    return scores, False


def _tally(records: list[tuple[bool, int]]) -> dict:
    lesions, accepted, attempts = len(records), sum(a for a, _ in records), sum(n for _, n in records)
    return {"lesions": lesions, "accepted": accepted, "attempts": attempts,
            "rate": accepted / lesions if lesions else None, "pass_rate": accepted / attempts if attempts else None}


def acceptance_summary(records: Iterable[tuple[str, str, bool, int]]) -> dict:
    """Acceptance of filtered lesions from ``(organ, size class, accepted, attempts)`` records.

    Returns ``{"all": tally, "organs": {organ: {"all": tally, "size_classes": {class: tally}}}}``;
    a tally holds ``lesions``, ``accepted``, ``attempts``, ``rate`` (accepted / lesions) and
    ``pass_rate`` (accepted / attempts: the share of draws the judge passes; a collapsing pass rate
    means a judge too strict or a weak prior).
    """
    records = list(records)
    organs = {}
    for organ in sorted({r[0] for r in records}):
        mine = [r for r in records if r[0] == organ]
        classes = {c: _tally([(a, n) for _, k, a, n in mine if k == c]) for c in sorted({r[1] for r in mine})}
        organs[organ] = {"all": _tally([(a, n) for *_, a, n in mine]), "size_classes": classes}
    return {"all": _tally([(a, n) for *_, a, n in records]), "organs": organs}
