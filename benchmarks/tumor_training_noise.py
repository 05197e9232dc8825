"""Where the tumor benchmark's spread comes from: the lesion draws, or the segmenter's training?

    python benchmarks/tumor_training_noise.py --draw-seeds 0 1 --inits 0 1 7001 7002 --shard 0/2 &
    python benchmarks/tumor_training_noise.py --draw-seeds 0 1 --inits 0 1 7001 7002 --shard 1/2 &
    python benchmarks/tumor_training_noise.py --draw-seeds 0 1 --inits 0 1 7001 7002 --report-only --write

``benchmarks/tumor.py`` gives each repeat (seed) new lesion draws *and* a new segmenter initialisation
and patch order, so its between-seed spread of the paired Dice difference (judge minus unfiltered) mixes
both. Here the two are crossed: for every draw seed the ProjDiff lesions are drawn once, exactly as
``tumor.py`` draws them for that seed, and each arm's segmenter is trained once per ``--inits`` seed
(initialisation and patch order), the same init seeds for every draw seed and every arm. With init seed
= draw seed the computation is the one ``tumor.py`` runs for that seed, but its Dice can differ from a
record made at another thread count: the threads change the training's rounding (weights differ in the
seventh digit after 5 steps at 1 against 2 threads), and the training amplifies such differences.

``d[draw, init]`` = Dice(judge arm) - Dice(unfiltered arm), mean over the test cases. Training
variance: the mean over draw seeds of the variance of ``d`` across inits (the spread a new training
alone brings); draw variance: the variance of the draw seeds' means of ``d`` less the training
variance's share of it (``variance_components``). Every option not listed below is ``tumor.py``'s and
is passed on to it (phantoms, steps, segmenter); ``--discriminator`` is not used (it does not change
the judge arm's lesions). Units (draw seed, init, arm) are recorded as they finish (``--records``,
by default in the repository, so that the section can be rebuilt and extended by later runs);
``--shard K/N`` takes the draw seeds s with s % N == K.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _records import Records, parse_shard  # noqa: E402
from _results import emit, table  # noqa: E402
from tumor import Bench, compose, draw_lesions, parse_args, train_and_test  # noqa: E402

from projdiff.apps.tumor.segmenter import SegVolume  # noqa: E402

ARMS = ("projdiff", "projdiff + judge")
RECORDS = Path(__file__).resolve().parent / "results" / "tumor-training-noise"


def variance_components(diffs: np.ndarray) -> dict[str, float]:
    """Training and draw variance of ``diffs`` (draw seeds x inits), one-way random-effects estimates.

    ``training``: mean over rows of the sample variance across inits; ``draws``: the sample variance of
    the row means less ``training / inits`` (at least 0; NaN with one row); ``one_run``: their sum, the
    variance of a single repeat of ``tumor.py`` (one draw, one training).
    """
    diffs = np.asarray(diffs, float)
    if diffs.ndim != 2 or diffs.shape[1] < 2:
        raise ValueError(f"variance_components: expected draws x inits with >= 2 inits, got shape {diffs.shape}")
    training = float(np.mean(np.var(diffs, axis=1, ddof=1)))
    draws = float(max(np.var(diffs.mean(axis=1), ddof=1) - training / diffs.shape[1], 0.0)) \
        if diffs.shape[0] > 1 else float("nan")
    return {"training": training, "draws": draws, "one_run": training + draws}


def run_draw_seed(bench: Bench, draw: int, inits: list[int], records: Records) -> None:
    """Draw the lesions of ``draw`` once; train and test each arm once per init (skipping recorded units)."""
    args, config = bench.args, bench.config
    todo = [(init, arm) for init in inits for arm in ARMS if f"{draw}|{init}|{arm}" not in records.done()]
    if not todo:
        return
    started = time.perf_counter()
    drawn = [draw_lesions(bench, case, k + 1000 * draw) for k, case in enumerate(bench.train_cases)]
    volumes = {arm: [SegVolume(config.hu_window.to_unit(ct), tumor, case.organ_mask("liver"))
                     for case, lesions in zip(bench.train_cases, drawn)
                     for ct, tumor, _ in [compose(case, lesions, arm, args)]] for arm in ARMS}
    print(f"draw seed {draw}: lesions drawn in {time.perf_counter() - started:.0f} s", flush=True)
    for init, arm in todo:
        start = time.perf_counter()
        cases, _ = train_and_test(bench, volumes[arm], init)
        records.add(f"{draw}|{init}|{arm}", {"draw": draw, "init": init, "arm": arm,
                                              "dice": [c["dice"] for c in cases],
                                              "seconds": time.perf_counter() - start, "device": bench.device.type})
        print(f"done: draw {draw}, init {init}, {arm}", flush=True)


def repeats_needed(parts: dict[str, float], inits_per_draw: int, width: float) -> int:
    """Draw seeds for a 95 % interval ``width`` wide (normal approximation) when each draw seed's paired
    difference is averaged over ``inits_per_draw`` trainings per arm: variance draws + training / inits."""
    variance = parts["draws"] + parts["training"] / inits_per_draw
    return int(np.ceil(variance * (2 * 1.96 / width) ** 2))


def report(done: dict, draws: list[int], inits: list[int], width: float) -> str:
    """The grid of paired differences, the variance components and the designs they imply, over the units
    recorded so far."""
    dice = {(r["draw"], r["init"], r["arm"]): float(np.nanmean(r["dice"])) for r in done.values()}
    full = [d for d in draws if all((d, i, a) in dice for i in inits for a in ARMS)]
    if not full:
        return "No draw seed has all its units yet.\n"
    diffs = np.array([[dice[(d, i, ARMS[1])] - dice[(d, i, ARMS[0])] for i in inits] for d in full])
    rows = [[str(d)] + [f"{dice[(d, i, ARMS[0])]:.3f} / {dice[(d, i, ARMS[1])]:.3f} ({v:+.3f})"
                        for i, v in zip(inits, row)] for d, row in zip(full, diffs)]
    grid = table(["draw seed"] + [f"init {i}: unfiltered / judge (difference)" for i in inits], rows)
    parts = variance_components(diffs)
    per_arm = {a: np.array([[dice[(d, i, a)] for i in inits] for d in full]) for a in ARMS}
    arm_sd = {a: float(np.mean(np.std(v, axis=1, ddof=1))) for a, v in per_arm.items()}
    shared = float(np.mean([np.corrcoef(u, j)[0, 1] for u, j in zip(per_arm[ARMS[0]], per_arm[ARMS[1]])]))
    summary = table(["quantity", "value"], [
        ["draw seeds x inits", f"{len(full)} x {len(inits)}"],
        ["mean paired difference (judge - unfiltered)", f"{diffs.mean():+.3f}"],
        ["training variance of the difference (sd)", f"{parts['training']:.4f} ({np.sqrt(parts['training']):.3f})"],
        ["draw variance of the difference (sd)", f"{parts['draws']:.4f} ({np.sqrt(parts['draws']):.3f})"
         if np.isfinite(parts["draws"]) else "needs 2 draw seeds"],
        ["training sd of the unfiltered arm's Dice", f"{arm_sd[ARMS[0]]:.3f}"],
        ["training sd of the judge arm's Dice", f"{arm_sd[ARMS[1]]:.3f}"],
        ["correlation of the two arms' Dice across inits (mean over draw seeds)", f"{shared:+.2f}"],
    ])
    if not np.isfinite(parts["draws"]):
        return grid + "\n" + summary
    needed = {k: repeats_needed(parts, k, width) for k in (1, 2, 4, 8)}
    designs = table(["trainings per arm and draw seed", f"draw seeds for width {width}", "trainings per arm"],
                    [[str(k), str(n), str(k * n)] for k, n in needed.items()])
    return (grid + "\n" + summary + f"\nDraw seeds for width {width}: a 95 % normal interval, 2 x 1.96 x sd / "
            "sqrt(seeds), with sd from the variance components above.\n\n" + designs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     add_help=True)
    parser.add_argument("--draw-seeds", type=int, nargs="+", default=[0, 1], help="lesion draw seeds (0 1)")
    parser.add_argument("--inits", type=int, nargs="+", default=[0, 1, 7001, 7002],
                        help="segmenter init and patch-order seeds, at least 2 (0 1 7001 7002)")
    parser.add_argument("--records", default=str(RECORDS), help="unit records, resumable (default: the committed "
                        "benchmarks/results/tumor-training-noise)")
    parser.add_argument("--shard", type=parse_shard, default="0/1",
                        help="K/N: this process takes the draw seeds s with s %% N == K")
    parser.add_argument("--report-only", action="store_true", help="the tables from the records, no new units")
    parser.add_argument("--target-width", type=float, default=0.05, help="CI width the designs aim at (0.05)")
    parser.add_argument("--section", default="tumor-training-noise", help="section of benchmarks/RESULTS.md")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md's section")
    ours, rest = parser.parse_known_args(argv)
    if len(set(ours.inits)) < 2:
        parser.error(f"--inits: expected at least 2 different seeds, got {ours.inits}")
    if not ours.target_width > 0:
        parser.error(f"--target-width: expected a width > 0, got {ours.target_width}")
    args = parse_args(rest + ["--records", ours.records])
    args.discriminator = None
    shard = ours.shard
    records = Records(args.records, shard)            # --quick: tumor.py's temporary folder, not the committed one
    bench = Bench(args)
    if not ours.report_only:
        for draw in ours.draw_seeds:
            if draw % shard[1] == shard[0]:
                run_draw_seed(bench, draw, ours.inits, records)
    body = (f"Lesions drawn as `benchmarks/tumor.py` draws them for each draw seed (prior `{args.prior}`, "
            f"{args.steps} steps, judge `{args.judge}`, {args.retries} retries, {args.train} training phantoms x "
            f"{args.lesions} lesions); each arm's segmenter (widths {bench.config.widths}, {args.seg_steps} steps, "
            f"batch {args.batch_size}, {args.seg_schedule} schedule) trained once per init seed; Dice: MONAI, mean "
            f"over {args.test} test phantoms, raw predictions (no post-processing); run on {args.device.type}.\n\n"
            + report(Records(args.records).done(), ours.draw_seeds, ours.inits, ours.target_width))
    emit(ours.write, ours.section, "Tumor benchmark: training noise against draw noise "
         f"({ours.section})", body)


if __name__ == "__main__":
    main()
