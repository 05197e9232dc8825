"""Exact-posterior conformance of ProjDiff: default configuration, reference settings, step sizes.

    python benchmarks/conformance.py --write        # all tables into benchmarks/RESULTS.md
    python benchmarks/conformance.py --quick        # smoke run (tiny sizes), prints only

See projdiff/testing/conformance.py for the problems and the figures.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402

from projdiff.engine.schedules import linear_beta_alphas_cumprod, strided_vp_sigmas  # noqa: E402
from projdiff.testing.conformance import evaluate, problems, projdiff_solver, reference_problem  # noqa: E402

SWEEP = (0.5, 1.0, 1.5, 1.8, 2.0, 2.2)


def reference_options(steps: int) -> dict:
    """The reference code's choices: strided DDPM grid, step size 1, deterministic bridge."""
    return {"sigmas": strided_vp_sigmas(linear_beta_alphas_cumprod(), steps), "step_size": 1.0,
            "bridge": "deterministic"}


def fmt(r: dict) -> list:
    return [f"{r['per_sample']:.2f}", f"{r['mean_of_k']:.3f}", f"{r['coverage']:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--steps", type=int, default=100, help="noise levels per solve (default 100)")
    args = parser.parse_args()
    draws, samples = (4, 19) if args.quick else (64, 39)
    steps = 10 if args.quick else args.steps
    suite = problems()[:2] if args.quick else problems()
    started = time.time()

    rows, sweep_rows, worst = [], [], 0.0
    for p in suite:
        default = evaluate(p, draws=draws, num_samples=samples, steps=steps)
        ref = evaluate(p, projdiff_solver(**reference_options(steps)), draws=draws, num_samples=samples, steps=steps)
        rows.append([p.name] + fmt(default) + fmt(ref))
        by_lr = {lr: evaluate(p, projdiff_solver(step_size=lr), draws=draws, num_samples=samples, steps=steps)
                 for lr in SWEEP}
        finite = {lr: r["mean_of_k"] for lr, r in by_lr.items() if math.isfinite(r["mean_of_k"])}
        best = min(finite, key=finite.get)
        gap = 10 * math.log10(default["mean_of_k"] / finite[best])
        worst = max(worst, gap)
        sweep_rows.append([p.name] + [f"{by_lr[lr]['mean_of_k']:.3f}" if lr in finite else "diverged" for lr in SWEEP]
                          + [f"{best:g}", f"{gap:.2f}"])
        print(p.name, rows[-1][1:], f"best lr {best} gap {gap:.2f} dB", flush=True)

    ref100 = evaluate(reference_problem(), projdiff_solver(**reference_options(steps)), draws=draws,
                      num_samples=samples, steps=steps)
    ref_rows = [[f"{steps} steps"] + fmt(ref100)]
    if not args.quick:
        ref1000 = evaluate(reference_problem(), projdiff_solver(**reference_options(1000)), draws=draws,
                           num_samples=samples, steps=1000)
        ref_rows.append(["1000 steps"] + fmt(ref1000))

    body = (
        f"{draws} draws of (x, y) per problem, {samples} samples per draw, {steps} steps (NFE {steps + 1}). "
        "Figures per cell: per-sample MSE / MMSE (exact sampler: 2), MSE of the mean of the samples / MMSE "
        f"(exact: {1 + 1 / samples:.3f}), coverage of the 90% credible intervals (exact: 0.900). "
        "Default = `projdiff.solve` defaults (Karras schedule from the prior's sigma_max = 20 to 0.002, step-size rule `1 + 0.8 sigma_next / sigma`, "
        "stochastic bridge). Reference settings = the reference code's choices in this engine (strided DDPM "
        "linear-beta grid, step size 1, deterministic bridge).\n\n"
        + table(["problem", "default per-sample", "default mean-of-K", "default coverage",
                 "reference per-sample", "reference mean-of-K", "reference coverage"], rows)
        + "\n### Reference point\n\n64-dim Gaussian (squared-exponential covariance, length 6, + 1e-3 I), 30% random "
        "inpainting, noise-free, reference settings (the issue's reference algorithm measured about 2.8 at 100 "
        "steps and 2.0 at 1000).\n\n"
        + table(["steps", "per-sample", "mean-of-K", "coverage"], ref_rows)
        + "\n### Step size: the default rule against fixed step sizes\n\n"
        "Cells: MSE of the mean of the samples / MMSE (lower is better). Gap = how far the default is from the "
        f"best fixed step size of the sweep, in dB. Worst gap over all problems: {worst:.2f} dB.\n\n"
        + table(["problem"] + [f"lr {lr:g}" for lr in SWEEP] + ["best", "gap (dB)"], sweep_rows)
        + f"\nWall time: {time.time() - started:.0f} s.\n"
    )
    name = "conformance" if steps == 100 else f"conformance-{steps}"
    emit(args.write, name, f"Exact-posterior conformance at {steps} steps (engine issue)", body)


if __name__ == "__main__":
    main()
