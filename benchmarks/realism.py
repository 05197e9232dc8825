"""How real do the learned lesions look? Generators scored by discriminators, the judge and HU statistics.

    python benchmarks/realism.py --generators bundled:lesions runs/adversarial/prior \\
        --discriminators bundled:tumor-discriminator runs/adversarial/discriminator --write
    python benchmarks/realism.py --quick ...                 # 4 lesions, 5 noise levels, prints only

For each held-out real lesion (validation split of the lesion-crop cache) and its twins (the same patch
with the lesion redrawn by the ProjDiff backend with each generator, ``--backend-steps`` noise levels;
``tumor_discriminator.twin_volumes``), in the cache's window:
- ``realism`` under each discriminator: the share of lesion voxels not marked synthetic (mean over lesions);
- judge: the mean share of lesion voxels the frozen judge detects, and the share of lesions it accepts
  at threshold 0.5;
- contrast: mean HU inside the lesion minus mean HU of the organ within 5 mm around it;
  texture: HU standard deviation inside the lesion.
The discriminators and the judge see the whole patch and score the lesion's voxels (as the quality filter does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402

from projdiff.apps.tumor.discriminator import DISCRIMINATOR_KIND, twin_volumes  # noqa: E402
from projdiff.apps.tumor.judge import JUDGE_KIND, PROBABILITY_CUT, judge_volumes  # noqa: E402
from projdiff.apps.tumor.lesion_crops import LesionCropSpec, load_patches, read_manifest  # noqa: E402
from projdiff.apps.tumor.lesion_stats import lesion_statistics  # noqa: E402
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion  # noqa: E402
from projdiff.apps.tumor.segmenter import SegmenterConfig, load_frozen, predict_slices  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="runs/data/lesions")
    parser.add_argument("--generators", nargs="+", required=True, help="lesion priors (bundled:NAME or folders)")
    parser.add_argument("--discriminators", nargs="+", required=True)
    parser.add_argument("--judge", default="bundled:tumor-judge")
    parser.add_argument("--lesions", type=int, default=32, help="held-out lesions (validation split)")
    parser.add_argument("--backend-steps", type=int, default=25)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    spec = LesionCropSpec.from_dict(read_manifest(args.data)["spec"])
    config = SegmenterConfig(window=spec.window, spacing=spec.spacing)
    count, steps = (4, 5) if args.quick else (args.lesions, args.backend_steps)
    patches = load_patches(args.data, "validation")[:count]
    discriminators = {name: load_frozen(name, DISCRIMINATOR_KIND, "--discriminators")[0]
                      for name in args.discriminators}
    judge = load_frozen(args.judge, JUDGE_KIND, "--judge")[0]
    sources = {"real lesions": judge_volumes(patches, config)}
    for name in args.generators:
        backend = ProjDiffLesion.load(name, steps=steps, spacing=spec.spacing)
        sources[f"ProjDiff, `{name}`"] = twin_volumes(patches, backend, config, progress=False)[1::2]
    rows = []
    for label, volumes in sources.items():
        row = [label]
        for model in discriminators.values():
            row.append(np.mean([(predict_slices(model, v.unit)[p.lesion] <= PROBABILITY_CUT).mean()
                                for v, p in zip(volumes, patches)]))
        detected = [(predict_slices(judge, v.unit)[p.lesion] > PROBABILITY_CUT).mean()
                    for v, p in zip(volumes, patches)]
        stats = [lesion_statistics(config.hu_window.to_hu(v.unit), p.lesion, p.organ & ~p.lesion, spec.spacing)
                 for v, p in zip(volumes, patches)]
        row += [np.mean(detected), np.mean(np.asarray(detected) >= 0.5), np.nanmean([s["contrast_hu"] for s in stats]),
                np.mean([s["texture_hu"] for s in stats])]
        rows.append([row[0]] + [f"{value:.3f}" for value in row[1:-2]] + [f"{value:.1f}" for value in row[-2:]])
        print(rows[-1], flush=True)
    body = (f"{len(patches)} held-out real lesions of `{args.data}` (validation split) and their twins redrawn by "
            f"ProjDiff ({steps} noise levels per window, one sample). Realism columns: mean share of lesion voxels "
            f"a discriminator does not mark synthetic; judge `{args.judge}`: mean detected share and share of "
            "lesions accepted at 0.5; contrast: lesion minus surrounding organ (5 mm ring), HU; texture: HU std "
            "inside the lesion.\n\n"
            + table(["lesions"] + [f"realism, `{name}`" for name in discriminators]
                    + ["judge: detected", "judge: accepted", "contrast HU", "texture HU"], rows) + "\n")
    emit(args.write, "realism", "Realism of the learned lesions (tumor issue, discriminator)", body)


if __name__ == "__main__":
    main()
