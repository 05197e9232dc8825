"""Tumor synthesis, FreeTumor's claim in miniature: a segmenter trained on synthetic lesions finds real ones.

    python benchmarks/tumor.py --discriminator bundled:tumor-discriminator --write   # the shipped models
    python benchmarks/tumor.py --quick --prior DIR --judge DIR

One training set per arm, from the same healthy phantoms (seeds 3,000,000 + k, disjoint from the
phantoms the prior and the judge were trained on): ``--lesions`` synthetic liver lesions per phantom
(radius ``--size`` mm) drawn by

1. ``projdiff``: the ProjDiff lesion backend, no filter (one arm per ``--prior``);
2. ``projdiff + judge``: the same, with the quality filter (judge, ``--threshold``, ``--retries``);
3. ``projdiff + judge + discriminator`` with ``--discriminator``: the filter with both judges
   (``--realism-threshold``), for the last ``--prior`` (the generator the discriminator was trained against);
4. ``handcrafted``: the SynTumor-style baseline.

Each arm trains the same 2.5D segmenter (``projdiff.apps.tumor.segmenter``, same seed and steps) on
patches centred on its synthetic lesions or on liver voxels. Test: held-out phantoms (seeds
2,000,000 + k) with realistic lesions (``projdiff.apps.tumor.realistic_lesions``, the "real" tumours here), the
prediction (probability > 0.5) kept inside the liver. Reported per arm: per-case Dice and surface
Dice at 2 mm (mean over cases), lesion sensitivity by size class (pooled over cases; a lesion is
found when any of its voxels is predicted), false-positive components per case, the filter's
acceptance, and the 3D-consistency figure of the training lesions (mean through-plane / in-plane
intensity jump inside the lesions, ``seg_metrics.slice_jumps``) beside that of the real test lesions.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402

from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS  # noqa: E402
from projdiff.apps.tumor.discriminator import RealismDiscriminator  # noqa: E402
from projdiff.apps.tumor.handcrafted_lesion import HandcraftedLesion  # noqa: E402
from projdiff.apps.tumor.judge import TumorJudge  # noqa: E402
from projdiff.apps.tumor.lesion_crops import LesionCropSpec, make_lesion_phantom, phantom_seed  # noqa: E402
from projdiff.apps.tumor.lesion_masks import CLASS_LIMITS_MM, parse_size  # noqa: E402
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion  # noqa: E402
from projdiff.apps.tumor.seg_metrics import case_metrics, slice_jumps  # noqa: E402
from projdiff.apps.tumor.segmenter import (SegmenterConfig, SegVolume, SlicePatches, make_segmenter,  # noqa: E402
                                           predict_slices, train_segmenter)
from projdiff.apps.tumor.synthesis import QualityFilter, acceptance_summary, synthesize_tumors  # noqa: E402

ORGAN = "liver"
BENCH_OFFSET = 3_000_000
TUMOR = DEFAULT_LABELS.tumor_code
QUICK_SPEC = LesionCropSpec(phantom_shape=(24, 64, 64), spacing=(5.0, 4.0, 4.0))


def synthetic_volumes(backend, quality, spec: LesionCropSpec, args, config: SegmenterConfig):
    """Training volumes of one arm, its acceptance records and the HU jumps inside its lesions."""
    volumes, records, jumps = [], [], []
    for k in range(args.train):
        case = make_lesion_phantom(BENCH_OFFSET + k, replace(spec, organs={})).case
        result = synthesize_tumors(case, ORGAN, args.lesions, args.size_mm, backend, seed=k + 1000 * args.seed,
                                   quality=quality)
        tumor = result.labels == TUMOR
        volumes.append(SegVolume(config.hu_window.to_unit(result.ct_hu), tumor, case.organ_mask(ORGAN)))
        records += [(ORGAN, les.placement.size_class, les.accepted, len(les.scores or [None]))
                    for les in result.lesions]
        if tumor.any():
            jumps.append(slice_jumps(result.ct_hu, tumor)["ratio"])
    return volumes, records, jumps


def held_out_cases(spec: LesionCropSpec, args):
    """Held-out phantoms with realistic liver lesions."""
    lesions = {ORGAN: (args.lesions, args.size_mm)}
    return [make_lesion_phantom(phantom_seed("test", k), replace(spec, organs=lesions)) for k in range(args.test)]


def evaluate(model, config: SegmenterConfig, cases) -> list[dict]:
    """Per-case metrics of the segmenter's prediction (probability > 0.5, inside the liver)."""
    out = []
    for phantom in cases:
        case = phantom.case
        probability = predict_slices(model, config.hu_window.to_unit(case.ct.array))
        liver = phantom.organ_labels == DEFAULT_LABELS.code(ORGAN)
        out.append(case_metrics((probability > 0.5) & liver, case.labels == TUMOR, case.ct.spacing))
    return out


def paired_difference(dice: np.ndarray, reference: np.ndarray, resamples: int = 2000) -> str:
    """Mean per-case Dice difference from the reference arm, with a 95% bootstrap interval over the test
    cases (paired: the same cases in both arms; it covers the choice of test cases, not the training run)."""
    diff = dice - reference
    diff = diff[~np.isnan(diff)]
    means = diff[np.random.default_rng(0).integers(0, len(diff), (resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return f"{diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]"


def row(name: str, metrics: list[dict], records, jumps) -> list:
    dice = np.array([m["dice"] for m in metrics], float)
    nsd = np.array([m["nsd"] for m in metrics], float)
    cells = [name, f"{np.nanmean(dice):.3f} ± {np.nanstd(dice):.3f}", f"{np.nanmean(nsd):.3f}"]
    for size_class, _ in CLASS_LIMITS_MM:
        found = sum(m["lesions"]["classes"][size_class]["detected"] for m in metrics)
        total = sum(m["lesions"]["classes"][size_class]["lesions"] for m in metrics)
        cells.append(f"{found}/{total}" if total else "-")
    found, total = sum(m["lesions"]["detected"] for m in metrics), sum(m["lesions"]["lesions"] for m in metrics)
    accepted = acceptance_summary(records)["all"]
    cells += [f"{found / total:.2f}" if total else "-",
              f"{np.mean([m['lesions']['false_positive_components'] for m in metrics]):.1f}",
              f"{accepted['accepted']}/{accepted['lesions']} ({accepted['attempts']} draws)",
              f"{np.nanmean(jumps):.2f}" if jumps else "-"]
    return cells


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", nargs="+", default=["bundled:lesions"],
                        help="lesion prior(s): bundled:NAME or a folder (default bundled:lesions)")
    parser.add_argument("--discriminator", default=None, help="real-versus-synthetic discriminator (adds an arm)")
    parser.add_argument("--realism-threshold", type=float, default=0.5)
    parser.add_argument("--judge", default="bundled:tumor-judge",
                        help="tumor judge: bundled:NAME or a folder (default bundled:tumor-judge)")
    parser.add_argument("--train", type=int, default=40, help="training phantoms per arm (40)")
    parser.add_argument("--test", type=int, default=20, help="test phantoms (20)")
    parser.add_argument("--lesions", type=int, default=3, help="lesions per phantom (3)")
    parser.add_argument("--size", default="3-20mm", help="lesion radius range (3-20mm)")
    parser.add_argument("--steps", type=int, default=50, help="ProjDiff noise levels per slice stack (50)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--retries", type=int, default=10)
    parser.add_argument("--seg-steps", type=int, default=2000, help="segmenter training steps per arm (2000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="training run: lesion draws (seeds k + 1000 seed) and "
                        "segmenter initialisation and patches; same phantoms and test cases (0)")
    parser.add_argument("--quick", action="store_true", help="tiny phantoms and runs: a smoke test")
    parser.add_argument("--no-handcrafted", action="store_true", help="leave out the hand-crafted arm")
    parser.add_argument("--section", default="tumor", help="section of benchmarks/RESULTS.md to write (tumor)")
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.lesions, args.steps, args.retries = 2, 1, 1, 2, 1
        args.seg_steps, args.batch_size = 3, 4
    args.size_mm = parse_size(args.size)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    spec = QUICK_SPEC if args.quick else LesionCropSpec()
    config = SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=spec.spacing) if args.quick else \
        SegmenterConfig(spacing=spec.spacing)
    judge = TumorJudge.load(args.judge)
    arms = {}
    for prior in args.prior:
        backend = ProjDiffLesion.load(prior, steps=args.steps, spacing=spec.spacing)
        label = "projdiff" if len(args.prior) == 1 else f"projdiff `{prior}`"
        arms[label] = (backend, None)
        arms[f"{label} + judge"] = (backend, QualityFilter(judge, args.threshold, args.retries))
    if args.discriminator:
        arms[f"{label} + judge + discriminator"] = (backend, QualityFilter(
            judge, args.threshold, args.retries, RealismDiscriminator.load(args.discriminator), args.realism_threshold))
    if not args.no_handcrafted:
        arms["handcrafted"] = (HandcraftedLesion(), None)
    cases = held_out_cases(spec, args)
    real_jumps = [slice_jumps(p.case.ct.array, p.case.labels == TUMOR)["ratio"] for p in cases]
    rows, dice = [], []
    for name, (backend, quality) in arms.items():
        volumes, records, jumps = synthetic_volumes(backend, quality, spec, args, config)
        model = make_segmenter(config, seed=args.seed)
        train_segmenter(model, SlicePatches(volumes, config, seed=args.seed), args.seg_steps, args.batch_size,
                        progress=not args.quick)
        metrics = evaluate(model, config, cases)
        rows.append(row(name, metrics, records, jumps))
        dice.append(np.array([m["dice"] for m in metrics], float))
        print(rows[-1], flush=True)
    for cells, arm in zip(rows, dice):
        cells.insert(2, "-" if arm is dice[0] else paired_difference(arm, dice[0]))
    headers = (["training lesions", "Dice", f"Dice - {next(iter(arms))} [95% CI]", "NSD 2 mm"] +
               [f"found {c}" for c, _ in CLASS_LIMITS_MM] +
               ["sensitivity", "FP comp./case", "accepted", "jump ratio"])
    body = (f"Seed {args.seed}. " * bool(args.seed) +
            f"Segmenter trained {args.seg_steps} steps (batch {args.batch_size}) on {args.train} healthy phantoms "
            f"x {args.lesions} synthetic {ORGAN} lesions (radius {args.size}) per arm; tested on {args.test} held-out "
            f"phantoms with {args.lesions} realistic lesions each. Prior(s) {', '.join(f'`{p}`' for p in args.prior)} "
            f"({args.steps} steps), judge `{args.judge}` (threshold {args.threshold}, {args.retries} retries)"
            + (f", discriminator `{args.discriminator}` (realism threshold {args.realism_threshold})"
               if args.discriminator else "") + ". Dice and NSD: mean over cases; "
            f"Dice - {next(iter(arms))}: mean per-case difference from the first arm, with a 95% bootstrap "
            f"interval over the test cases (one training run per arm: it does not cover the training's variation); "
            f"found: detected / real lesions by size class; jump ratio: through-plane / in-plane mean HU jump "
            f"inside the training lesions (real test lesions: {np.nanmean(real_jumps):.2f}).\n\n"
            + table(headers, rows))
    title = "Tumor synthesis: segmenting real lesions after training on synthetic ones"
    emit(args.write, args.section, title + ("" if args.section == "tumor" else f" ({args.section})"), body)


if __name__ == "__main__":
    main()
