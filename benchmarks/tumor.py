"""Tumor synthesis, FreeTumor's claim in miniature and repeated: does filtering synthetic lesions help a
segmenter find real ones?

    python benchmarks/tumor.py --seeds 0-9 --discriminator bundled:tumor-discriminator --write
    python benchmarks/tumor.py --seeds 0-9 --shard 1/2 ...     # a second process: the odd seeds
    python benchmarks/tumor.py --seeds 0-9 --report-only --write   # tables from the records so far
    python benchmarks/tumor.py --quick --prior DIR --judge DIR --discriminator DIR
    python benchmarks/tumor.py --seeds 0-99 --device cuda --shard 3/16 ...   # one of 16 processes on a GPU

Arms, each training the same 2.5D segmenter (``projdiff.apps.tumor.segmenter``; per seed the same
initialisation and patch order in every arm) on the same healthy phantoms (seeds 3,000,000 + k,
disjoint from the prior's and the judge's) with ``--lesions`` synthetic liver lesions each:

1. ``projdiff``: the ProjDiff backend, unfiltered (the first draw of every lesion);
2. ``projdiff + judge``: the first of 1 + ``--retries`` draws the judge accepts; lesions without one are dropped;
3. ``projdiff + judge + discriminator``: the first draw both judges accept (with ``--discriminator``);
4. ``handcrafted``: the SynTumor-style baseline, in every repeat.

The ProjDiff arms share their draws: every lesion is drawn up to 1 + retries times on the healthy phantom
(lesions are independent; draw ``a`` is the quality filter's attempt ``a``), each draw scored by both
judges, and each arm keeps the draw its rule picks. Test: held-out phantoms (seeds 2,000,000 + k) with
realistic lesions (``realistic_lesions``; the "real" tumours here), the prediction (probability > 0.5)
kept inside the liver.

A repeat (``--seeds``) redraws the lesions and re-initialises the segmenters. Units of work, each
recorded when it finishes (``--records``, by default a folder of the repository, so that commits carry the
seeds from one session or machine to the next; a rerun skips them, ``--shard K/N`` takes the seeds s with
s % N == K): (seed, projdiff arms) and (seed, handcrafted). Metrics (``seg_metrics``): MONAI Dice and
NSD at 2 mm per case, per-lesion Dice by size class, lesion sensitivity and false-positive components.
Post-processing, nnU-Net-style: each segmenter's predicted components smaller than a volume are removed,
the volume (from ``MIN_COMPONENT_MM3``) chosen by that segmenter's Dice on ``--validation`` phantoms
with realistic lesions (validation split); records keep the raw and the post-processed test cases, and
the summary and paired tables are shown for both (post-processed: over the seeds recorded with it).
Tables: per arm over all seeds x cases; paired differences from ``projdiff`` (per case, and per lesion
by size class) with two-way bootstrap intervals over seeds and test units (``_paired``), and the seeds a
0.05-wide interval would need; what the filter rejects (the draws' contrast and texture, ``lesion_stats``,
by verdict, beside the real test lesions'). ``--write`` also stores the per-case and per-lesion rows
as CSV in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import tempfile
from dataclasses import replace
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _paired import seeds_needed, two_way_interval  # noqa: E402
from _records import Records, parse_shard  # noqa: E402
from _results import emit, table  # noqa: E402

from projdiff.apps.arguments import device_name, device_of  # noqa: E402
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS  # noqa: E402
from projdiff.apps.tumor.discriminator import RealismDiscriminator  # noqa: E402
from projdiff.apps.tumor.handcrafted_lesion import HandcraftedLesion  # noqa: E402
from projdiff.apps.tumor.judge import TumorJudge  # noqa: E402
from projdiff.apps.tumor.lesion_backend import lesion_box  # noqa: E402
from projdiff.apps.tumor.lesion_crops import LesionCropSpec, make_lesion_phantom, phantom_seed  # noqa: E402
from projdiff.apps.tumor.lesion_masks import CLASS_LIMITS_MM, parse_size, sample_lesion_masks  # noqa: E402
from projdiff.apps.tumor.lesion_stats import lesion_statistics  # noqa: E402
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion  # noqa: E402
from projdiff.apps.tumor.seg_metrics import FULL_CONNECTIVITY, case_metrics, dice, slice_jumps  # noqa: E402
from projdiff.apps.tumor.segmenter import (SCHEDULES, SegmenterConfig, SegVolume, SlicePatches,  # noqa: E402
                                           make_segmenter, predict_slices, train_segmenter)
from projdiff.apps.tumor.synthesis import CROP_MARGIN, appearance_seed, synthesize_tumors  # noqa: E402
from projdiff.utils.seeds import derive_seed  # noqa: E402

ORGAN = "liver"
BENCH_OFFSET = 3_000_000
TUMOR = DEFAULT_LABELS.tumor_code
QUICK_SPEC = LesionCropSpec(phantom_shape=(24, 64, 64), spacing=(5.0, 4.0, 4.0))
ARMS = ("projdiff", "projdiff + judge", "projdiff + judge + discriminator", "handcrafted")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
MIN_COMPONENT_MM3 = (0.0, 25.0, 50.0, 100.0, 200.0, 400.0)   # post-processing candidates (a 3 mm sphere: 113 mm3)


class Bench:
    """Settings, models and the phantoms shared by every unit of one process."""

    def __init__(self, args):
        self.args = args
        self.spec = QUICK_SPEC if args.quick else LesionCropSpec()
        self.config = SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=self.spec.spacing) if args.quick else \
            SegmenterConfig(widths=args.seg_widths, spacing=self.spec.spacing)
        lesions = {ORGAN: (args.lesions, args.size_mm)}
        self.test = [make_lesion_phantom(phantom_seed("test", k), replace(self.spec, organs=lesions))
                     for k in range(args.test)]
        self.device = args.device
        self.judge = TumorJudge.load(args.judge)
        self.judge.model.to(self.device)
        self.discriminator = RealismDiscriminator.load(args.discriminator) if args.discriminator else None
        if self.discriminator is not None:
            self.discriminator.model.to(self.device)
        self.backend = ProjDiffLesion.load(args.prior, device=self.device, steps=args.steps,
                                           spacing=self.spec.spacing, lesion_type=args.lesion_type)

    @cached_property
    def validation(self) -> list:
        """Phantoms with realistic lesions (validation split) on which the post-processing is chosen."""
        lesions = {ORGAN: (self.args.lesions, self.args.size_mm)}
        return [make_lesion_phantom(phantom_seed("validation", k), replace(self.spec, organs=lesions))
                for k in range(self.args.validation)]

    @cached_property
    def train_cases(self) -> list:
        healthy = replace(self.spec, organs={})
        return [make_lesion_phantom(BENCH_OFFSET + k, healthy).case for k in range(self.args.train)]

    def arms(self) -> tuple[str, ...]:
        return tuple(a for a in ARMS if self.discriminator is not None or "discriminator" not in a)


def draw_lesions(bench: Bench, case, seed: int) -> list[dict]:
    """Every lesion of a training phantom with its draws (see the module docstring)."""
    args, ct, spacing = bench.args, case.ct.array, case.ct.spacing
    organ = case.organ_mask(ORGAN)
    seeds = [derive_seed("tumor", seed, case.name, ORGAN, k) for k in range(args.lesions)]
    lesions = []
    for placement in sample_lesion_masks(organ, spacing, args.lesions, args.size_mm, seeds, ORGAN):
        box = lesion_box(placement.mask, CROP_MARGIN)
        original = ct[box].copy()
        draws = []
        for attempt in range(1 + args.retries):
            rng = np.random.default_rng(appearance_seed(placement.seed, attempt))
            drawn = bench.backend.synthesize(original, placement.mask[box], organ[box], rng)
            ct[box] = drawn
            scores = {"judge": bench.judge.score(ct, placement.mask, spacing, organ)["fraction"]}
            if bench.discriminator is not None:
                scores["realism"] = bench.discriminator.score(ct, placement.mask, spacing, organ)["realism"]
            scores.update(lesion_statistics(ct, placement.mask, organ & ~placement.mask, spacing))
            ct[box] = original
            draws.append({"crop": drawn, **scores})
            if scores["judge"] >= args.threshold and scores.get("realism", 1.0) >= args.realism_threshold:
                break
        lesions.append({"placement": placement, "box": box, "original": original, "draws": draws})
    return lesions


def pick(arm: str, draws: list[dict], args) -> int | None:
    """The draw an arm keeps (None: dropped)."""
    if arm == "projdiff":
        return 0
    both = "discriminator" in arm
    return next((a for a, d in enumerate(draws) if d["judge"] >= args.threshold and
                 (not both or d["realism"] >= args.realism_threshold)), None)


def compose(case, lesions: list[dict], arm: str, args) -> tuple[np.ndarray, np.ndarray, list]:
    """An arm's training phantom: the healthy CT with the draws it keeps pasted in; its tumour mask; records."""
    ct, tumor, records = case.ct.array.copy(), np.zeros(case.ct.array.shape, bool), []
    for lesion in lesions:
        chosen = pick(arm, lesion["draws"], args)
        records.append((ORGAN, lesion["placement"].size_class, chosen is not None, len(lesion["draws"])
                        if arm != "projdiff" else 1))
        if chosen is None:
            continue
        crop, box = lesion["draws"][chosen]["crop"], lesion["box"]
        ct[box] = np.where(crop != lesion["original"], crop, ct[box])
        tumor |= lesion["placement"].mask
    return ct, tumor, records


def train_and_test(bench: Bench, volumes: list[SegVolume], seed: int) -> tuple[list[dict], dict]:
    """Train a segmenter on ``volumes`` and score it on the test phantoms: one dict per test case, raw; and
    the post-processing ``{"min_component_mm3", "cases"}`` chosen on the validation phantoms, with its cases."""
    args, config = bench.args, bench.config
    model = make_segmenter(config, seed=seed).to(bench.device)
    train_segmenter(model, SlicePatches(volumes, config, seed=seed), args.seg_steps, args.batch_size,
                    progress=False, schedule=args.seg_schedule)
    predictions = [predict_liver(model, config, phantom) for phantom in bench.test]
    rows = [score(k, pred, phantom.case) for k, (pred, phantom) in enumerate(zip(predictions, bench.test))]
    validation = [(predict_liver(model, config, phantom), phantom.case) for phantom in bench.validation]
    chosen = max(MIN_COMPONENT_MM3, key=lambda t: np.nanmean([
        dice(remove_small_components(pred, case.ct.spacing, t), case.labels == TUMOR) for pred, case in validation]))
    kept = [score(k, remove_small_components(pred, phantom.case.ct.spacing, chosen), phantom.case)
            for k, (pred, phantom) in enumerate(zip(predictions, bench.test))]
    return rows, {"min_component_mm3": chosen, "cases": kept}


def predict_liver(model, config: SegmenterConfig, phantom) -> np.ndarray:
    """The segmenter's tumour mask (probability > 0.5) of a phantom, kept inside the liver."""
    case = phantom.case
    liver = phantom.organ_labels == DEFAULT_LABELS.code(ORGAN)
    pred = np.zeros(liver.shape, bool)                     # only the liver counts: its slices suffice (exact)
    slices = np.flatnonzero(liver.any(axis=(1, 2)))
    pred[slices] = predict_slices(model, config.hu_window.to_unit(case.ct.array), slices) > 0.5
    return pred & liver


def remove_small_components(pred: np.ndarray, spacing: tuple, min_mm3: float) -> np.ndarray:
    """``pred`` without its 26-connected components smaller than ``min_mm3`` (nnU-Net-style post-processing)."""
    if min_mm3 <= 0:
        return pred
    components, _ = ndimage.label(pred, structure=FULL_CONNECTIVITY)
    sizes = np.bincount(components.ravel()) * float(np.prod(spacing))
    keep = sizes >= min_mm3
    keep[0] = False
    return keep[components]


def score(k: int, pred: np.ndarray, case) -> dict:
    """One test case's record: MONAI Dice and NSD, lesion detection, false positives, per-lesion Dice."""
    m = case_metrics(pred, case.labels == TUMOR, case.ct.spacing)
    return {"case": k, "dice": m["dice"], "nsd": m["nsd"], "lesions": m["lesions"]["lesions"],
            "detected": m["lesions"]["detected"], "fp_components": m["lesions"]["false_positive_components"],
            "per_lesion": m["per_lesion"]}


def run_unit(bench: Bench, seed: int, unit: str) -> dict[str, dict]:
    """The records of one unit: {arm: record}."""
    args, config, out = bench.args, bench.config, {}
    started = time.perf_counter()
    if unit == "handcrafted":
        volumes, acceptance, jumps = [], [], []
        for k, case in enumerate(bench.train_cases):
            result = synthesize_tumors(case, ORGAN, args.lesions, args.size_mm, HandcraftedLesion(),
                                       seed=k + 1000 * seed)
            tumor = result.labels == TUMOR
            volumes.append(SegVolume(config.hu_window.to_unit(result.ct_hu), tumor, case.organ_mask(ORGAN)))
            acceptance += [(ORGAN, les.placement.size_class, True, 1) for les in result.lesions]
            jumps.append(slice_jumps(result.ct_hu, tumor)["ratio"])
        per_arm = {"handcrafted": (volumes, acceptance, jumps)}
        draws = []
    else:
        drawn = [draw_lesions(bench, case, k + 1000 * seed) for k, case in enumerate(bench.train_cases)]
        per_arm, draws = {}, []
        for arm in bench.arms()[:-1]:
            volumes, acceptance, jumps = [], [], []
            for case, lesions in zip(bench.train_cases, drawn):
                ct, tumor, records = compose(case, lesions, arm, args)
                volumes.append(SegVolume(config.hu_window.to_unit(ct), tumor, case.organ_mask(ORGAN)))
                acceptance += records
                if tumor.any():
                    jumps.append(slice_jumps(ct, tumor)["ratio"])
            per_arm[arm] = (volumes, acceptance, jumps)
        draws = [{"size_class": les["placement"].size_class, "attempt": a,
                  **{k: v for k, v in d.items() if k != "crop"}}
                 for lesions in drawn for les in lesions for a, d in enumerate(les["draws"])]
    drawing = time.perf_counter() - started
    for arm, (volumes, acceptance, jumps) in per_arm.items():
        start = time.perf_counter()
        cases, postprocessed = train_and_test(bench, volumes, seed)
        out[arm] = {"seed": seed, "arm": arm, "cases": cases, "postprocessed": postprocessed,
                    "acceptance": [list(r) for r in acceptance], "jump_ratio": float(np.nanmean(jumps)),
                    "seconds": time.perf_counter() - start + drawing / len(per_arm), "device": bench.device.type,
                    "draws": draws if arm == "projdiff" else []}
    return out


# ---- report -----------------------------------------------------------------------------------------


def by_arm(done: dict, seeds: list[int], arms) -> dict[str, dict[int, dict]]:
    return {arm: {r["seed"]: r for r in done.values() if r["arm"] == arm and r["seed"] in seeds} for arm in arms}


def postprocessed(records: dict[str, dict[int, dict]]) -> dict[str, dict[int, dict]]:
    """The records that hold post-processed test cases, with those as their cases."""
    return {arm: {seed: {**r, "cases": r["postprocessed"]["cases"]} for seed, r in runs.items() if "postprocessed" in r}
            for arm, runs in records.items()}


def summary_table(records: dict[str, dict[int, dict]]) -> str:
    rows = []
    for arm, runs in records.items():
        if not runs:
            continue
        cases = [c for r in runs.values() for c in r["cases"]]
        per_seed = [np.nanmean([c["dice"] for c in r["cases"]]) for r in runs.values()]
        lesions = [les for c in cases for les in c["per_lesion"]]
        cells = [arm, len(runs), f"{np.nanmean([c['dice'] for c in cases]):.3f} (seeds: {np.min(per_seed):.3f}"
                 f"-{np.max(per_seed):.3f})", f"{np.nanmean([c['nsd'] for c in cases]):.3f}"]
        for size_class, _ in CLASS_LIMITS_MM:
            mine = [les for les in lesions if les["size_class"] == size_class]
            cells.append(f"{np.mean([les['dice'] > 0 for les in mine]):.2f} / "
                         f"{np.mean([les['dice'] for les in mine]):.2f}"
                         if mine else "-")
        with_draws = [r for r in runs.values() if "acceptance" in r]       # records rebuilt from CSV rows lack them
        accepted = [a for r in with_draws for a in r["acceptance"]]
        over = f"; {len(with_draws)} seeds" if len(with_draws) < len(runs) else ""
        cells += [f"{np.mean([c['fp_components'] for c in cases]):.1f}",
                  f"{sum(a[2] for a in accepted)}/{len(accepted)} ({sum(a[3] for a in accepted)} draws{over})"
                  if with_draws else "-",
                  f"{np.nanmean([r['jump_ratio'] for r in with_draws]):.2f}" if with_draws else "-"]
        rows.append(cells)
    return table(["training lesions", "seeds", "Dice (range of seed means)", "NSD 2 mm"] +
                 [f"{c}: found / Dice" for c, _ in CLASS_LIMITS_MM] + ["FP comp./case", "accepted", "jump ratio"], rows)


def paired_table(records: dict[str, dict[int, dict]], target: float) -> str:
    reference = records["projdiff"]
    rows = []
    for arm, runs in records.items():
        seeds = sorted(set(runs) & set(reference))
        if arm == "projdiff" or not seeds:
            continue
        cells = [arm, len(seeds)]
        case_diffs = np.array([[a["dice"] - b["dice"] for a, b in zip(runs[s]["cases"], reference[s]["cases"])]
                               for s in seeds])
        mean, low, high = two_way_interval(case_diffs)
        cells += [f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]", f"{high - low:.3f}",
                  seeds_needed(len(seeds), high - low, target)]
        for size_class, _ in CLASS_LIMITS_MM:
            diffs = np.array([[a["dice"] - b["dice"]
                               for ca, cb in zip(runs[s]["cases"], reference[s]["cases"])
                               for a, b in zip(ca["per_lesion"], cb["per_lesion"]) if a["size_class"] == size_class]
                              for s in seeds])
            if diffs.size == 0:
                cells.append("-")
                continue
            mean, low, high = two_way_interval(diffs)
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] (n={diffs.shape[1]})")
        rows.append(cells)
    return table(["arm", "seeds", "Dice - projdiff, per case [95% CI]", "CI width", f"seeds for width {target}"] +
                 [f"{c}: per-lesion Dice - projdiff" for c, _ in CLASS_LIMITS_MM], rows)


def rejection_table(records: dict[str, dict[int, dict]], bench_real: list[dict], args) -> str:
    draws = [d for r in records.get("projdiff", {}).values() for d in r.get("draws", [])]
    if not draws:
        return ""
    groups = {"real test lesions": bench_real, "first draws (unfiltered arm)": [d for d in draws if d["attempt"] == 0],
              "draws the judge accepts": [d for d in draws if d["judge"] >= args.threshold],
              "draws the judge rejects": [d for d in draws if d["judge"] < args.threshold]}
    if any("realism" in d for d in draws):
        groups["draws the discriminator accepts"] = [d for d in draws if d.get("realism", 1) >= args.realism_threshold]
        groups["draws the discriminator rejects"] = [d for d in draws if d.get("realism", 1) < args.realism_threshold]
    rows = []
    for name, group in groups.items():
        if not group:
            continue
        contrast = np.array([g["contrast_hu"] for g in group])
        q1, mid, q3 = np.nanpercentile(contrast, [25, 50, 75])
        classes = {c: np.mean([g["size_class"] == c for g in group]) for c, _ in CLASS_LIMITS_MM}
        rows.append([name, len(group), f"{mid:+.1f} [{q1:+.1f}, {q3:+.1f}]", f"{np.mean(contrast > 0):.2f}",
                     f"{np.nanmedian([g['texture_hu'] for g in group]):.1f}",
                     f"{np.nanmean([g['judge'] for g in group]):.2f}" if "judge" in group[0] else "-",
                     f"{np.nanmean([g['realism'] for g in group]):.2f}" if "realism" in group[0] else "-",
                     " / ".join(f"{classes[c]:.2f}" for c, _ in CLASS_LIMITS_MM)])
    return table(["lesions", "n", "contrast HU, median [IQR]", "brighter than the organ", "texture HU",
                  "judge fraction", "realism", "tiny / small / medium / large"], rows)


def real_lesion_stats(bench_test, args) -> list[dict]:
    out = []
    for phantom in bench_test:
        case = phantom.case
        liver = phantom.organ_labels == DEFAULT_LABELS.code(ORGAN)
        for _, lesion in phantom.lesions:
            mask = lesion.placement.mask
            out.append({"size_class": lesion.placement.size_class,
                        **lesion_statistics(case.ct.array, mask, liver & ~mask, case.ct.spacing)})
    return out


def write_csv(records: dict[str, dict[int, dict]], folder: Path = RESULTS_DIR) -> None:
    """The raw per-case and per-lesion rows of ``records`` as ``folder``/tumor_cases.csv and tumor_lesions.csv."""
    folder.mkdir(exist_ok=True)
    with open(folder / "tumor_cases.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "arm", "case", "dice", "nsd", "lesions", "detected", "fp_components"])
        for arm, runs in records.items():
            for seed, r in sorted(runs.items()):
                for c in r["cases"]:
                    writer.writerow([seed, arm, c["case"], f"{c['dice']:.5f}", f"{c['nsd']:.5f}", c["lesions"],
                                     c["detected"], c["fp_components"]])
    with open(folder / "tumor_lesions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "arm", "case", "lesion", "size_class", "radius_mm", "dice"])
        for arm, runs in records.items():
            for seed, r in sorted(runs.items()):
                for c in r["cases"]:
                    for k, les in enumerate(c["per_lesion"]):
                        writer.writerow([seed, arm, c["case"], k, les["size_class"], f"{les['radius_mm']:.3f}",
                                         f"{les['dice']:.5f}"])


def read_csv(folder: Path, seeds: list[int]) -> dict[str, dict]:
    """The records of ``seeds`` rebuilt from ``write_csv``'s rows in ``folder`` (key -> record, units included).

    For seeds whose records were lost: the rows hold the raw test cases only (5 decimals), so the rebuilt
    records have no acceptance, jump ratio, draws or post-processing; each says where it came from.
    """
    lesions: dict[tuple, list] = {}
    with open(folder / "tumor_lesions.csv", newline="") as f:
        for row in csv.DictReader(f):
            lesions.setdefault((int(row["seed"]), row["arm"], int(row["case"])), []).append(
                {"size_class": row["size_class"], "radius_mm": float(row["radius_mm"]), "dice": float(row["dice"])})
    out: dict[str, dict] = {}
    with open(folder / "tumor_cases.csv", newline="") as f:
        for row in csv.DictReader(f):
            seed, arm = int(row["seed"]), row["arm"]
            if seed not in seeds:
                continue
            record = out.setdefault(f"{seed}|{arm}", {"seed": seed, "arm": arm, "cases": [],
                                                      "source": f"{folder.name}/tumor_cases.csv and tumor_lesions.csv"})
            record["cases"].append({"case": int(row["case"]), **{k: float(row[k]) for k in ("dice", "nsd")},
                                    **{k: int(row[k]) for k in ("lesions", "detected", "fp_components")},
                                    "per_lesion": lesions.get((seed, arm, int(row["case"])), [])})
    for record in list(out.values()):
        if record["arm"] in ("projdiff", "handcrafted"):
            unit = f"unit:{record['arm']}"
            out[f"{record['seed']}|{unit}"] = {"seed": record["seed"], "arm": unit}
    return out


def parse_seeds(values: list[str]) -> list[int]:
    seeds = []
    for value in values:
        low, _, high = value.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return sorted(set(seeds))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="bundled:lesions", help="lesion prior (default bundled:lesions)")
    parser.add_argument("--lesion-type", default="free", help="lesion type of the ProjDiff arms (free: the prior's "
                        "own mixture, like the test lesions' 70 %% hypodense / 30 %% hyperdense)")
    parser.add_argument("--discriminator", default=None, help="real-versus-synthetic discriminator (adds an arm)")
    parser.add_argument("--realism-threshold", type=float, default=0.5)
    parser.add_argument("--judge", default="bundled:tumor-judge", help="tumor judge (default bundled:tumor-judge)")
    parser.add_argument("--seeds", nargs="+", default=["0"], help="repeats: seeds or ranges, e.g. 0-9 (0)")
    parser.add_argument("--train", type=int, default=16, help="training phantoms per arm (16)")
    parser.add_argument("--test", type=int, default=20, help="test phantoms (20)")
    parser.add_argument("--validation", type=int, default=10,
                        help="validation phantoms on which each segmenter's post-processing is chosen (10)")
    parser.add_argument("--lesions", type=int, default=3, help="lesions per phantom (3)")
    parser.add_argument("--size", default="3-20mm", help="lesion radius range (3-20mm)")
    parser.add_argument("--steps", type=int, default=50, help="ProjDiff noise levels per slice stack (50)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--seg-schedule", choices=SCHEDULES, default="poly",
                        help="segmenter learning-rate schedule (poly: nnU-Net's decay to zero)")
    parser.add_argument("--seg-steps", type=int, default=1200, help="segmenter training steps per arm (1200)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seg-widths", default="24,48,96", help="segmenter channels per level (24,48,96)")
    parser.add_argument("--device", type=device_name, default="cpu",
                        help="where the prior, the judges and the segmenters run: cpu (default), cuda or cuda:N")
    parser.add_argument("--records", default=str(RESULTS_DIR / "tumor-records"),
                        help="folder of the unit records, resumable (default: benchmarks/results/tumor-records, "
                             "in the repository, so that seeds add up across sessions and machines)")
    parser.add_argument("--shard", type=parse_shard, default="0/1",
                        help="K/N: this process takes the seeds s with s %% N == K (0/1)")
    parser.add_argument("--report-only", action="store_true", help="tables from the records, no new units")
    parser.add_argument("--import-csv", action="store_true",
                        help="first rebuild the records of --seeds that have none from the committed CSV rows "
                             "(benchmarks/results/tumor_*.csv; raw cases only), into records-csv.jsonl")
    parser.add_argument("--target-width", type=float, default=0.05, help="CI width the repeats aim at (0.05)")
    parser.add_argument("--quick", action="store_true", help="tiny phantoms and runs: a smoke test")
    parser.add_argument("--section", default="tumor", help="section of benchmarks/RESULTS.md to write (tumor)")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md's section and the CSV files")
    args = parser.parse_args(argv)
    if args.validation < 1:
        parser.error(f"--validation: expected an int >= 1, got {args.validation}")
    try:
        args.device = device_of(args.device)
    except ValueError as error:
        parser.error(str(error))
    if args.quick and args.import_csv:
        parser.error("--import-csv: the committed CSV rows are of the full-size benchmark, not --quick")
    missing = [name for name in ("tumor_cases.csv", "tumor_lesions.csv") if not (RESULTS_DIR / name).is_file()]
    if args.import_csv and missing:
        parser.error(f"--import-csv: expected {', '.join(missing)} in {RESULTS_DIR}, found none")
    if args.quick:
        args.train, args.test, args.validation, args.lesions, args.steps, args.retries = 2, 1, 1, 1, 2, 1
        args.seg_steps, args.batch_size, args.seeds = 3, 4, ["0-1"]
        args.records = tempfile.mkdtemp(prefix="tumor-bench-quick-")
    args.size_mm = parse_size(args.size)
    args.seg_widths = tuple(int(w) for w in args.seg_widths.split(","))
    args.seeds = parse_seeds(args.seeds)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    shard = args.shard
    records = Records(args.records, shard)
    if args.import_csv:
        recorded = {r["seed"] for r in records.done().values()}
        imported = Records(args.records, writer="csv")
        for key, record in read_csv(RESULTS_DIR, [s for s in args.seeds if s not in recorded]).items():
            imported.add(key, record)
    bench = Bench(args)
    units = [f"{seed}|unit:{unit}" for seed in args.seeds for unit in ("projdiff", "handcrafted")]
    todo = [key for key in units if int(key.split("|")[0]) % shard[1] == shard[0] and key not in records.done()]
    for key in [] if args.report_only else todo:
        if key in records.done():                         # another process (another --seeds list) did it meanwhile
            continue
        seed, unit = key.split("|unit:")
        for arm, record in run_unit(bench, int(seed), unit).items():
            records.add(f"{seed}|{arm}", record)
        records.add(key, {"seed": int(seed), "arm": f"unit:{unit}"})
        print(f"done: seed {seed}, {unit}", flush=True)
    arms = by_arm(records.done(), args.seeds, bench.arms())
    done_seeds = sorted({s for runs in arms.values() for s in runs})
    devices = sorted({r.get("device", "cpu") for runs in arms.values() for r in runs.values()}) or [args.device.type]
    left = [key for key in units if key not in records.done()]
    rebuilt = sorted({r["seed"] for runs in arms.values() for r in runs.values() if "source" in r})
    body = (f"Seeds {done_seeds} done of {args.seeds}" + (f"; left: {len(left)} units" if left else "") + ". "
            + (f"Seeds {rebuilt} rebuilt from CSV rows (`--import-csv`: raw test cases only, so without acceptance, "
               "jump ratio, draws or post-processing). " if rebuilt else "") +
            f"Per seed: a segmenter (widths {bench.config.widths}) trained {args.seg_steps} steps (batch "
            f"{args.batch_size}, {args.seg_schedule} learning rate) per arm on {args.train} healthy phantoms x "
            f"{args.lesions} synthetic {ORGAN} lesions (radius {args.size}); tested on {args.test} held-out phantoms "
            f"with {args.lesions} realistic lesions each; run on {' and '.join(devices)}. Prior `{args.prior}` "
            f"({args.steps} steps, "
            f"lesion type {args.lesion_type}), judge `{args.judge}` (threshold {args.threshold}, {args.retries} "
            f"retries)" + (f", discriminator `{args.discriminator}` (realism threshold {args.realism_threshold})"
                           if args.discriminator else "") +
            ". Dice and NSD: MONAI (`compute_dice`, `compute_surface_dice` with DeepMind's surface elements), mean "
            "over seeds x cases; found / Dice by size class: share of real lesions detected and their mean per-lesion "
            "Dice, pooled over seeds.\n\n" + summary_table(arms) +
            "\nPaired differences from the unfiltered arm (same seed, same test case or lesion), with 95% two-way "
            "bootstrap intervals over seeds and test units; seeds for width: the repeats an interval of width "
            f"{args.target_width} would need (width ~ 1 / sqrt(seeds)).\n\n" + paired_table(arms, args.target_width))
    post = postprocessed(arms)
    if post["projdiff"]:
        chosen = [r["postprocessed"]["min_component_mm3"] for runs in arms.values() for r in runs.values()
                  if "postprocessed" in r]
        body += (f"\nThe same after post-processing (seeds {sorted(post['projdiff'])}, the ones recorded with it): "
                 "each segmenter's predicted components smaller than a volume chosen on "
                 f"{args.validation} validation phantoms (from {', '.join(f'{t:g}' for t in MIN_COMPONENT_MM3)} "
                 "mm3, the one with the best validation Dice) are removed, nnU-Net-style. Volumes chosen: "
                 + ", ".join(f"{t:g} mm3 x {chosen.count(t)}" for t in sorted(set(chosen))) + ".\n\n"
                 + summary_table(post) + "\n" + paired_table(post, args.target_width))
    rejected = rejection_table(arms, real_lesion_stats(bench.test, args), args)
    if rejected:
        body += ("\nWhat the filter rejects: every ProjDiff draw of the training lesions (all seeds) by verdict, "
                 "beside the real test lesions. Contrast: lesion mean minus the organ within 5 mm; texture: HU std "
                 "inside the lesion; last column: share of the draws by size class.\n\n" + rejected)
    title = "Tumor synthesis: segmenting real lesions after training on synthetic ones, repeated"
    emit(args.write, args.section, title + ("" if args.section == "tumor" else f" ({args.section})"), body)
    if args.write:
        write_csv(arms)


if __name__ == "__main__":
    main()
