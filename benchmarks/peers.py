"""Benchmarks against peers: projdiff's solvers and deepinv 0.5.0's on the same priors and operators.

    python benchmarks/peers.py --write                        # (a) and (b) into RESULTS.md, plots/
    python benchmarks/peers.py --only conformance --write     # (a): analytic problems only
    python benchmarks/peers.py --only restoration --write     # (b): the bundled Fashion-MNIST prior
    python benchmarks/peers.py --quick [--prior DIR]          # smoke run: tiny sizes, prints only

Solvers: ours (``projdiff.solve`` with methods projdiff, dps, ddnm, diffpir, pigdm, defaults) and
deepinv's DPS, DiffPIR, DDRM and PiGDM (settings and sources in ``deepinv_solvers.py``), both on
the same network through ``deepinv_adapter.py`` (units, wrapped operators). Needs the ``bench``
extra (``pip install -e ".[bench]"``). Threads: torch's default, or ``OMP_NUM_THREADS`` (on a busy
machine one thread can be many times faster than two).

(a) Exact-posterior conformance (``projdiff.testing.conformance``): per-sample MSE / MMSE (exact sampler: 2),
MSE of the mean of K samples / MMSE (exact: 1 + 1/K) and coverage of 90% credible intervals (exact
0.90), on all 20 problems, 64 draws and 39 samples per problem, 100 steps (about 8 minutes on one
busy CPU core). deepinv's solvers see each problem mapped to images by ``x_img = 0.5 + c x``
(``UnitMap.for_mixture``) and their samples are mapped back.

(b) Restoration with the Fashion-MNIST prior (``benchmarks/restoration.py``'s images, tasks and
measurements): PSNR and SSIM of one sample per image against NFE and wall time, on the first
``--images`` test images, for each step count of ``--steps``; plots with the Pareto front (highest
PSNR for a given cost) go to ``benchmarks/plots/``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _plots import pareto_front, plot_panels  # noqa: E402
from _results import emit, table  # noqa: E402
from peer_methods import OURS, Method, ours, theirs  # noqa: E402
from restoration import NOISE, SETTINGS, images, measure, scores  # noqa: E402

import projdiff  # noqa: E402
from projdiff.priors import AffinePrior  # noqa: E402
from projdiff.testing.conformance import evaluate, gaussian_prior, gmm_prior, problems  # noqa: E402

PLOTS = Path(__file__).resolve().parent / "plots"
QUICK_PROBLEMS = ("gauss-inpaint30-s0", "gmm-inpaint30-s0.1")
FORMATS = {"per_sample": "{:.2f}", "mean_of_k": "{:.3f}", "coverage": "{:.3f}"}


def _require_deepinv() -> None:
    try:
        import deepinv  # noqa: F401
    except ImportError as err:
        raise SystemExit(f"peers.py needs deepinv ({err}); install the extra: pip install -e '.[bench]'") from None


def _mark(note: str) -> str:
    """The table cell of a run that did not happen: ``n/a`` (not applicable) or ``failed``."""
    return "n/a" if note.startswith("not applicable") else "failed"


def _note_lines(notes: dict[str, set[str]]) -> str:
    return "".join(f"\n- {', '.join(sorted(labels))}: {note} (cells marked {_mark(note)}).\n"
                   for note, labels in notes.items())


def _attempt(method: Method, operator, call):
    """``(value, note)``: the call's result, or ``None`` and why the method did not run."""
    reason = method.not_applicable(operator)
    if reason:
        return None, f"not applicable: {reason}"
    try:
        return call(), None
    except Exception as err:  # a failing baseline is reported, not fatal
        return None, f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160]}"


# -- (a) ----------------------------------------------------------------------------------------------
def _geometric_mean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def _coverage_error(values: list[float]) -> float:
    return sum(abs(c - 0.9) for c in values) / len(values)


_SUMMARY = {"per_sample": ("geometric mean", _geometric_mean), "mean_of_k": ("geometric mean", _geometric_mean),
            "coverage": ("mean abs(coverage - 0.90)", _coverage_error)}


def conformance(args) -> tuple[str, str]:
    from deepinv_adapter import UnitMap
    from deepinv_solvers import METHODS

    draws, samples, steps = (4, 19, 10) if args.quick else (64, 39, 100)
    chosen = {p.name: p for p in problems()}
    names = QUICK_PROBLEMS if args.quick else list(chosen)
    methods = [ours(n) for n in OURS] + [theirs(n, lambda prior: UnitMap.for_mixture(prior, args.spread))
                                         for n in METHODS]
    figures = {key: [] for key in FORMATS}
    values = {(key, m.label): [] for key in FORMATS for m in methods}
    notes, seconds, started = {}, {m.label: 0.0 for m in methods}, time.time()
    for name in names:
        problem = chosen[name]
        cells = {key: [name] for key in figures}
        for m in methods:
            t0 = time.perf_counter()
            result, note = _attempt(m, problem.operator, lambda: evaluate(
                problem, m.conformance_solver(), draws=draws, num_samples=samples, steps=steps))
            seconds[m.label] += time.perf_counter() - t0
            if note:
                notes.setdefault(note, set()).add(m.label)
            for key, fmt in FORMATS.items():
                value = None if result is None else result[key]
                if value is not None and math.isfinite(value):
                    values[key, m.label].append(value)
                text = fmt.format(value) if value is not None and math.isfinite(value) else "diverged"
                cells[key].append(_mark(note) if note else text)
        for key in figures:
            figures[key].append(cells[key])
        print(name, *(f"{c}" for c in cells["mean_of_k"][1:]), flush=True)
    for key, fmt in FORMATS.items():
        figures[key].append([f"**{_SUMMARY[key][0]}**"] + [fmt.format(_SUMMARY[key][1](values[key, m.label]))
                                                           if values[key, m.label] else "n/a" for m in methods])

    headers = ["problem"] + [m.label for m in methods]
    maps = ", ".join(f"{kind}: c = {UnitMap.for_mixture(prior, args.spread).scale:.4f}"
                     for kind, prior in (("Gaussian", gaussian_prior()), ("GMM", gmm_prior())))
    sweep = "#step-size-the-default-rule-against-fixed-step-sizes"
    body = (
        f"{len(names)} problems of `projdiff.testing.conformance.problems()` (Gaussian and GMM priors, 5 operators, "
        f"sigma_y 0 and 0.1), {draws} draws of (x, y) each, {samples} samples per draw, {steps} steps (NFE "
        f"{steps + 1} for ProjDiff, {steps} for the others). Last rows: the geometric mean of the ratios and the "
        "mean distance of the coverage from 0.90 over the problems a solver ran on. Ours: `projdiff.solve` "
        "defaults. deepinv: settings and sources in `benchmarks/deepinv_solvers.py`; each problem is mapped to "
        f"images by x_img = 0.5 + c x with c = 0.5 / max(|mean| + {args.spread:g} sd) over components and entries "
        f"({maps}) and the samples are mapped back; the figures do not depend on the map, the solvers' constants "
        "do (`--spread` changes it). The default step-size rule against a sweep of fixed step sizes: "
        f"[Step size: the default rule against fixed step sizes]({sweep}).\n\n"
        f"### Per-sample MSE / MMSE (exact sampler: 2)\n\n{table(headers, figures['per_sample'])}"
        f"\n### MSE of the mean of the samples / MMSE (exact: {1 + 1 / samples:.3f})\n\n"
        f"{table(headers, figures['mean_of_k'])}"
        f"\n### Coverage of the 90% credible intervals (exact: 0.90)\n\n{table(headers, figures['coverage'])}"
        + _note_lines(notes)
        + "\nSeconds per solver over all problems: "
        + ", ".join(f"{label} {s:.0f}" for label, s in seconds.items())
        + f".\n\nWall time: {time.time() - started:.0f} s.\n"
    )
    return body, f"Exact-posterior conformance against deepinv at {steps} steps (peers issue)"


# -- (b) ----------------------------------------------------------------------------------------------
def _restore(method: Method, operator, prior, y, sigma_y: float, steps: int):
    """(one sample per image (B, *shape), NFE); raises ``FloatingPointError`` on non-finite samples."""
    samples, nfe = method.run(operator, prior, y, sigma_y, 1, 0, steps)
    if not bool(torch.isfinite(samples).all()):
        raise FloatingPointError(f"non-finite samples at {steps} steps")
    return samples[0], nfe


def restoration(args) -> tuple[str, str]:
    from deepinv_adapter import UnitMap
    from deepinv_solvers import METHODS

    n = 2 if args.quick else args.images
    grid = (2, 4) if args.quick else tuple(args.steps)
    truth = images("test", 0, n)
    prior = AffinePrior.unit_interval(projdiff.load_prior(args.prior))
    methods = ([ours("projdiff"), ours("projdiff", "ours: projdiff (lr 1)", step_size=1.0)]
               + [ours(name) for name in OURS[1:]] + [theirs(name, lambda _prior: UnitMap()) for name in METHODS])
    panels, rows, notes, started = {}, [], {}, time.time()
    for label, spec in SETTINGS:
        for sigma_y in NOISE:
            title = f"{label}, sigma_y {sigma_y:g}"
            op, y = measure(spec, truth, sigma_y, 0)
            points = panels.setdefault(title, [])
            for m in methods:
                cells, last_seconds = [], "n/a"
                for steps in grid:
                    t0 = time.perf_counter()
                    out, note = _attempt(m, op, lambda: _restore(m, op, prior, y, sigma_y, steps))
                    if note:
                        notes.setdefault(note, set()).add(m.label)
                        cells.append(_mark(note))
                        continue
                    seconds = (time.perf_counter() - t0) / n
                    psnr, ssim = scores(out[0], truth)
                    points.append({"method": m.label, "steps": steps, "nfe": out[1], "seconds": seconds,
                                   "psnr": psnr, "ssim": ssim})
                    cells.append(f"{psnr:.2f} / {ssim:.3f}")
                    last_seconds = f"{seconds:.3f}" if steps == grid[-1] else last_seconds
                rows.append([label, f"{sigma_y:g}", m.label] + cells + [last_seconds])
                print(rows[-1], flush=True)

    front_lines = []
    for title, points in panels.items():
        for cost in ("seconds", "nfe"):
            front = pareto_front([p[cost] for p in points], [p["psnr"] for p in points])
            on = sorted({points[i]["method"] for i in front})
            mine = [m for m in on if m.startswith("ours: projdiff")]
            axis = "wall time" if cost == "seconds" else "NFE"
            front_lines.append(f"- {title}, PSNR against {axis}: front = {', '.join(on)}; "
                               f"ProjDiff {'on the front' if mine else 'NOT on the front'}.")
    plot_dir = Path(args.plots) if args.plots else (PLOTS if args.write else None)
    links = ""
    if plot_dir is not None:
        for cost, xlabel, name in (("nfe", "NFE (denoiser calls)", "peers_psnr_vs_nfe.png"),
                                   ("seconds", "seconds per image", "peers_psnr_vs_seconds.png")):
            plot_panels(panels, cost, "psnr", xlabel, "PSNR (dB)", plot_dir / name)
        links = ("Plots: [PSNR against NFE](plots/peers_psnr_vs_nfe.png), [PSNR against seconds per image]"
                 "(plots/peers_psnr_vs_seconds.png) (Pareto front: black squares).\n\n")
    body = (
        f"{n} Fashion-MNIST test images (the first {n}; never seen in training), 32x32, pixels in [0, 1], prior "
        f"`{args.prior}`; tasks and seeded measurements of `benchmarks/restoration.py`. One sample per image from "
        "one batched call per method and step count (ours: item i uses seed i; deepinv: one generator seeded 0). "
        "Ours: `projdiff.solve` defaults, plus ProjDiff with step size 1 (what `projdiff restore` uses for one "
        "sample); deepinv: settings in `benchmarks/deepinv_solvers.py`, same network through "
        "`benchmarks/deepinv_adapter.py`. Cells: PSNR (dB) / SSIM at each step count; seconds per image (wall "
        "time of the batched call / images) at the largest step count. NFE = steps (ProjDiff: steps + 1); DPS "
        "and PiGDM (both engines) also back-propagate through every call.\n\n"
        + links
        + table(["task", "sigma_y", "method"] + [f"{s} steps" for s in grid] + [f"s / image ({grid[-1]} steps)"],
                rows)
        + _note_lines(notes)
        + "\n### Pareto fronts\n\n" + "\n".join(front_lines)
        + f"\n\nWall time: {time.time() - started:.0f} s.\n"
    )
    return body, "Restoration against deepinv: quality, NFE and wall time (peers issue)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the sections into benchmarks/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", choices=("conformance", "restoration"), help="run one part only")
    parser.add_argument("--prior", default="bundled:fashion-mnist-32", help="prior of (b) (default: %(default)s)")
    parser.add_argument("--images", type=int, default=32, help="test images in (b) (default: %(default)s)")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100],
                        help="step counts of (b) (default: %(default)s)")
    parser.add_argument("--spread", type=float, default=4.0,
                        help="(a): standard deviations kept inside [0, 1] by the map to images (default 4)")
    parser.add_argument("--plots", help="folder for the PNG plots of (b) (default with --write: benchmarks/plots)")
    args = parser.parse_args()
    _require_deepinv()
    parts = {"conformance": conformance, "restoration": restoration}
    for name in [args.only] if args.only else list(parts):
        body, title = parts[name](args)
        emit(args.write, f"peers-{name}", title, body)


if __name__ == "__main__":
    main()
