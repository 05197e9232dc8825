"""Lesions on CT the lesion prior never saw: contrast and texture against the organ around them.

    python benchmarks/tumor_heldout.py --write                      # 10 lesions per variation and arm
    python benchmarks/tumor_heldout.py --shard 1/2 ...              # a second process takes every other unit
    python benchmarks/tumor_heldout.py --quick                      # smoke test, prints only

Variations of a liver (the host organ; held-out phantom seeds 4,000,000 + k, never used for training):

- ``phantom``: the training distribution (non-contrast phantom, liver about 60 HU, 15 HU noise,
  2.5 x 1.5 x 1.5 mm);
- ``liver 105 HU``: the liver shifted to a portal-venous level (the phase of the public liver-tumour
  sets), the other organs unchanged;
- ``+ noise 30 HU``: the same with twice the CT noise;
- ``+ texture``: the same with parenchymal mottling (3 mm, 8 HU) and bright vessels (+60 HU);
- ``+ 5 x 0.8 x 0.8 mm, LPI``: the same on thick slices, fine in-plane voxels and a flipped grid;
- ``fatty liver 40 HU``: a low-attenuation liver;
- ``real slice``: the real TCIA CT slice of ``projdiff tumor --demo`` (pydicom-data) as a 24-slice slab
  with its rough liver mask.

Arms (ProjDiff with ``bundled:lesions``, ``--steps`` noise levels): ``before`` (the behaviour before
lesion types: the prior free, no normalisation, no restored detail), ``free, normalised``
(organ-relative normalisation and restored detail, no type; on the variations whose liver lies outside the prior's training range), ``hypodense`` (the
default), ``hyperdense`` and ``cystic`` (on ``phantom``, ``liver 105 HU`` and ``real slice``); and the
``handcrafted`` baseline. The same lesion masks in every arm (paired). Per lesion (``lesion_stats``):
contrast = lesion mean minus the organ within 5 mm around it (HU), texture = HU std inside the lesion and
inside its core (more than 2 mm from its edge), beside the ring's own std; "of its type": the lesion's mean
lies in the type's range (``lesion_types``; hypodense for ``before``, ``free`` and ``handcrafted``, the
default they are compared with); "texture of its type": the core's std over the ring's lies in the type's
``texture_ratio`` (hypodense and hyperdense 0.9-1.6, cystic 0.6-1.1); "visible":
|contrast| >= 10 HU; judge: the share of lesions the shipped judge accepts (fraction >= 0.5), on the CT
as it is and organ-relative (given the liver, as the quality filter now scores). Records are kept per lesion in ``--records``
(resumable; ``--shard K/N`` splits the work between processes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _records import Records, parse_shard  # noqa: E402
from _results import COMMIT_AT_START, emit, table  # noqa: E402

from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS  # noqa: E402
from projdiff.apps.tumor.ct.shapes import smooth_noise  # noqa: E402
from projdiff.apps.tumor.demo import demo_case  # noqa: E402
from projdiff.apps.tumor.handcrafted_lesion import HandcraftedLesion  # noqa: E402
from projdiff.apps.tumor.judge import TumorJudge  # noqa: E402
from projdiff.apps.tumor.lesion_stats import lesion_statistics  # noqa: E402
from projdiff.apps.tumor.lesion_types import LESION_TYPES  # noqa: E402
from projdiff.apps.tumor.phantom import make_phantom  # noqa: E402
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion  # noqa: E402
from projdiff.apps.tumor.synthesis import synthesize_tumors  # noqa: E402
from projdiff.utils.seeds import derive_seed  # noqa: E402

ORGAN = "liver"
HELD_OUT_OFFSET = 4_000_000
VISIBLE_HU = 10.0
PORTAL_VENOUS = {"liver_hu": 105.0}
VARIATIONS = {
    "phantom": {},
    "liver 105 HU": PORTAL_VENOUS,
    "liver 105 HU + noise 30 HU": {**PORTAL_VENOUS, "noise_hu": 30.0},
    "liver 105 HU + texture": {**PORTAL_VENOUS, "texture": True},
    "liver 105 HU + 5 x 0.8 x 0.8 mm, LPI": {**PORTAL_VENOUS, "spacing": (5.0, 0.8, 0.8), "shape": (28, 320, 320),
                                            "axcodes": ("L", "P", "I")},
    "fatty liver 40 HU": {"liver_hu": 40.0},
    "real slice": None,
}
ARMS = {"before": ("free", False), "free, normalised": ("free", True), "hypodense": ("hypodense", True),
        "hyperdense": ("hyperdense", True), "cystic": ("cystic", True), "handcrafted": None}
# the variations each arm is measured on (None: all); ``free, normalised`` equals ``before`` where the organ is
# already in the prior's training ranges (the phantoms)
SHIFTED = [name for name in VARIATIONS if name not in ("phantom", "fatty liver 40 HU")]
PLAN = {"before": None, "free, normalised": SHIFTED, "hypodense": None,
        "hyperdense": ["phantom", "liver 105 HU", "real slice"], "cystic": ["phantom", "liver 105 HU", "real slice"],
        "handcrafted": None}


def variation(name: str, seed: int, quick: bool):
    """The case of a variation (``real slice``: the demo case)."""
    if VARIATIONS[name] is None:
        return demo_case()
    options = dict(VARIATIONS[name])
    liver_hu, texture = options.pop("liver_hu", None), options.pop("texture", False)
    shape = options.pop("shape", (48, 160, 160))
    spacing = options.pop("spacing", (2.5, 1.5, 1.5))
    if quick:
        shape, spacing = (24, 64, 64), tuple(s * 2.5 for s in spacing)
    case = make_phantom(shape, spacing, seed=seed, **options)
    ct, liver = case.ct.array, case.labels == DEFAULT_LABELS.code(ORGAN)
    rng = np.random.default_rng(derive_seed("heldout-texture", seed))
    if liver_hu is not None:
        ct[liver] += liver_hu - float(np.median(ct[liver]))
    if texture:
        grid = case.ct.array.shape
        mottling = 8.0 * smooth_noise(grid, case.ct.spacing, 3.0, rng)
        vessels = (np.abs(smooth_noise(grid, case.ct.spacing, 15.0, rng)) < 0.08) & \
            (np.abs(smooth_noise(grid, case.ct.spacing, 15.0, rng)) < 0.08)
        ct[liver] += (mottling + 60.0 * vessels)[liver]
    return case


def backend(arm: str, steps: int, spacing):
    if ARMS[arm] is None:
        return HandcraftedLesion()
    kind, relative = ARMS[arm]
    return ProjDiffLesion.load("bundled:lesions", steps=steps, spacing=spacing, lesion_type=kind, normalise=relative,
                               restore_detail=relative)


def expected_type(arm: str) -> str:
    return arm if arm in LESION_TYPES else "hypodense"


def measure(args, records: Records, judge: TumorJudge) -> None:
    """Draw and measure every (variation, arm, lesion) of this shard that is not done yet."""
    keys = [f"{v}|{a}|{k}" for k in range(args.lesions) for v in args.variations for a in args.arms
            if PLAN[a] is None or v in PLAN[a]]
    todo = records.mine(keys)
    cases = {}
    for key in todo:
        name, arm, k = key.split("|")
        if name not in cases:
            cases[name] = variation(name, HELD_OUT_OFFSET + list(VARIATIONS).index(name), args.quick)
        case = cases[name]
        start = time.perf_counter()
        result = synthesize_tumors(case, ORGAN, 1, args.size_mm, backend(arm, args.steps, case.ct.spacing),
                                   seed=int(k))
        seconds = time.perf_counter() - start
        lesion = result.lesions[0].placement.mask
        organ = case.organ_mask(ORGAN) & ~lesion
        stats = lesion_statistics(result.ct_hu, lesion, organ, case.ct.spacing)
        stats["judge"] = judge.score(result.ct_hu, lesion, case.ct.spacing)["fraction"]
        stats["judge_relative"] = judge.score(result.ct_hu, lesion, case.ct.spacing, organ | lesion)["fraction"]
        records.add(key, {"variation": name, "arm": arm, "lesion": int(k), "seconds": seconds,
                          "commit": COMMIT_AT_START,
                          "radius_mm": result.lesions[0].placement.radius_mm, **stats})
        print(key, {k: round(v, 1) for k, v in stats.items()}, f"{seconds:.1f} s", flush=True)


def summary_rows(done: dict, args) -> list[list]:
    rows = []
    for name in args.variations:
        for arm in args.arms:
            rs = [r for r in done.values() if r["variation"] == name and r["arm"] == arm]
            if not rs:
                continue
            contrast = np.array([r["contrast_hu"] for r in rs])
            kind = LESION_TYPES[expected_type(arm)]
            in_range = np.mean([kind.contains(r["lesion_hu"], r["organ_hu"]) for r in rs])
            texture_ok = np.mean([kind.texture_contains(r["core_texture_hu"], r["ring_texture_hu"]) for r in rs])
            low, mid, high = np.percentile(contrast, [10, 50, 90])
            rows.append([name, arm, len(rs), f"{np.median([r['organ_hu'] for r in rs]):.0f}",
                         f"{mid:+.1f} [{low:+.1f}, {high:+.1f}]", f"{np.mean(np.abs(contrast) >= VISIBLE_HU):.2f}",
                         f"{in_range:.2f} ({expected_type(arm)})", f"{np.median([r['texture_hu'] for r in rs]):.1f}",
                         f"{np.median([r['core_texture_hu'] for r in rs]):.1f}",
                         f"{np.median([r['ring_texture_hu'] for r in rs]):.1f}",
                         f"{np.median([r['core_texture_hu'] / r['ring_texture_hu'] for r in rs]):.2f}",
                         f"{texture_ok:.2f}",
                         f"{np.mean([r['judge'] >= 0.5 for r in rs]):.2f}",
                         f"{np.mean([r['judge_relative'] >= 0.5 for r in rs]):.2f}"])
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesions", type=int, default=10, help="lesions per variation and arm (10)")
    parser.add_argument("--size", default="6-15", help="lesion radius range, mm (6-15)")
    parser.add_argument("--steps", type=int, default=50, help="ProjDiff noise levels per window (50, the default)")
    parser.add_argument("--variations", nargs="+", default=list(VARIATIONS), choices=list(VARIATIONS))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--records", default="runs/bench/tumor-heldout-10", help="folder of the per-lesion records")
    parser.add_argument("--shard", type=parse_shard, default="0/1",
                        help="K/N: this process takes every N-th unit from K (0/1)")
    parser.add_argument("--report-only", action="store_true", help="summarise the records, draw nothing")
    parser.add_argument("--quick", action="store_true", help="2 lesions, 2 variations, 5 steps, tiny phantoms")
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.lesions, args.steps, args.variations, args.size = 2, 5, ["phantom", "liver 105 HU"], "4-6"
    args.size_mm = tuple(float(v) for v in args.size.split("-"))
    records = Records(tempfile.mkdtemp(prefix="tumor-heldout-quick-") if args.quick else args.records,
                      args.shard)
    if not args.report_only:
        measure(args, records, TumorJudge.load("bundled:tumor-judge"))
    done = records.done()
    rows = summary_rows(done, args)
    commits = sorted({r.get("commit", "not recorded") for r in done.values()})
    body = (f"Liver lesions of radius {args.size} mm, {args.lesions} per variation and arm (the same masks in "
            f"every arm), ProjDiff with `bundled:lesions` at {args.steps} noise levels. Contrast: lesion mean minus "
            f"the organ within 5 mm around it, median [10th, 90th percentile], HU; visible: share with |contrast| "
            f">= {VISIBLE_HU:g} HU; of its type: share whose contrast lies in the type's range (hypodense -80..-20 HU, "
            f"hyperdense +15..+60 HU against the organ, cystic: lesion mean 0..20 HU; the arms without a type "
            f"are held against hypodense, the default); texture: HU std inside the lesion and inside its core "
            f"(more than 2 mm from the edge; medians), beside that of the organ ring, and the core's over the ring's "
            f"(median); texture of its type: share whose core / ring ratio lies in the type's range (hypodense and "
            f"hyperdense 0.9-1.6, cystic 0.6-1.1); judge: share of lesions `bundled:tumor-judge` accepts (fraction >= 0.5), on the CT as it is and "
            f"organ-relative (given the liver: `local_normalisation`, as `projdiff tumor --judge` now scores). "
            f"Records drawn at commits: {', '.join(commits)}.\n\n"
            + table(["variation", "arm", "lesions", "organ HU", "contrast HU", "visible", "of its type",
                     "texture HU", "core texture HU", "ring texture HU", "core / ring", "texture of its type",
                     "judge accepts", "judge accepts, organ-relative"], rows))
    emit(args.write, "tumor-heldout", "Tumor lesions on held-out CT: contrast and texture by lesion type", body)


if __name__ == "__main__":
    main()
