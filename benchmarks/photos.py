"""Restoring held-out photographs with the RGB photo prior against classical and deepinv baselines.

    python benchmarks/photos.py --write                # test photographs, 128 and 256 crops (hours on a CPU)
    python benchmarks/photos.py --quick                # smoke run: 2 crops of 64 px, 4 steps, prints only

Data: the test split of ``projdiff data photos`` (``--data``, default ``runs/data/photos``; 5 photographs the
prior never saw), each as ``photos.benchmark_crop`` at 128x128 and 256x256 (resized to short side 1.5 x the
crop, centre crop), pixels in [0, 1]. Grayscale photographs are restored as such (an RGB prior sees them
through their gray image). Measurements are simulated with seeded noise (``restoration.restore_image``).

Methods (``--steps`` noise levels, default 100, for every diffusion method):

- ``projdiff``: ``restore_image`` as ``projdiff restore`` runs it (one sample, step size 1);
- ``projdiff mean of 4``: the mean of 4 posterior samples (step size rule ``auto``), 128 crops only;
- ``bicubic`` (sr4), ``biharmonic`` inpainting (scikit-image, both inpainting tasks), ``TV`` (deblurring;
  ``benchmarks/restoration.tv_solve``, weight chosen from {1e-3, 3e-3, 1e-2, 3e-2} on the validation
  photographs' crops), ``gray copies`` (colorization: the pseudo-inverse);
- deepinv 0.5.0's ``DDRM`` (where the operator has an SVD) and ``DiffPIR`` on the same network
  (``benchmarks/deepinv_solvers.py``), 128 crops only.

Reported per task, method and size: mean PSNR and SSIM (piq, data range 1), seconds per image, and in
the last column, for projdiff, on how many photographs it beats the classical baseline of the task.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402
from restoration import scores, tv_solve  # noqa: E402

import projdiff  # noqa: E402
from projdiff.apps.restoration.degradations import TaskSpec  # noqa: E402
from projdiff.engine import default_sigmas  # noqa: E402
from projdiff.apps.restoration.photos import benchmark_crop, load_split  # noqa: E402
from projdiff.apps.restoration.restoration import restore_image, simulate  # noqa: E402
from projdiff.priors import AffinePrior  # noqa: E402
from projdiff.utils.seeds import derive_seed  # noqa: E402

LAMBDAS = (1e-3, 3e-3, 1e-2, 3e-2)


def settings(size: int) -> list[tuple[str, TaskSpec, float]]:
    """(label, task, sigma_y) of the benchmark at crops of ``size``."""
    q = size // 4
    return [("sr4", TaskSpec("sr4"), 0.02), ("sr4", TaskSpec("sr4"), 0.05),
            ("inpaint 50%", TaskSpec("inpaint", {"fraction": 0.5}), 0.02),
            ("box 1/4 area", TaskSpec("inpaint", {"box": (q, q, 2 * q, 2 * q)}), 0.02),
            ("deblur gauss 2", TaskSpec("deblur", {"blur_sigma": 2.0}), 0.02),
            ("colorize", TaskSpec("colorize"), 0.02)]


def crops(root: str, split: str, size: int) -> dict[str, torch.Tensor]:
    """(C, size, size) crops in [0, 1] of a split's photographs; grayscale ones with C = 1."""
    out = {}
    for name, photo in load_split(root, split).items():
        crop = torch.from_numpy(benchmark_crop(photo, size).copy()).permute(2, 0, 1).float() / 255
        gray = bool((crop[0] == crop[1]).all() and (crop[1] == crop[2]).all())
        out[name] = crop[:1] if gray else crop
    return out


def classical(spec: TaskSpec, op, y: torch.Tensor, image: torch.Tensor, lam: float) -> tuple[str, torch.Tensor]:
    """The classical baseline of a task and its estimate (1, C, H, W)."""
    if spec.name == "sr4":
        return "bicubic", torch.nn.functional.interpolate(y, scale_factor=4, mode="bicubic", align_corners=False)
    if spec.name == "inpaint":
        from skimage.restoration import inpaint_biharmonic

        missing = (op.mask.expand_as(image) == 0)[0].numpy()
        filled = inpaint_biharmonic(y[0].permute(1, 2, 0).numpy(), missing, channel_axis=-1)
        return "biharmonic", torch.from_numpy(filled).permute(2, 0, 1)[None].float()
    if spec.name == "deblur":
        return f"TV (lam {lam:g})", tv_solve(op, y, lam)
    return "gray copies", op.pinv(y)


def tv_weight(root: str, size: int, spec: TaskSpec, sigma_y: float) -> float:
    """The TV weight with the best mean PSNR on the validation photographs' crops."""
    held = list(crops(root, "validation", size).values())
    cases = [simulate(spec, image[None], sigma_y, 100 + i) + (image,) for i, image in enumerate(held)]
    return max(LAMBDAS, key=lambda lam: np.mean([scores(tv_solve(op, y, lam), im[None])[0] for op, y, im in cases]))


def deepinv_method(method: str, prior, op, y: torch.Tensor, sigma_y: float, steps: int, seed: int):
    """deepinv's ``method`` on the same network; None where it cannot run."""
    from deepinv_adapter import PriorDenoiser
    from deepinv_solvers import not_applicable, sample

    if not_applicable(method, op):
        return None
    return sample(method, PriorDenoiser(AffinePrior.unit_interval(prior)), op, y, sigma_y, steps, seed)


def _step_size(text: str) -> float | str:
    return text if text == "auto" else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prior", default="bundled:photos-rgb")
    parser.add_argument("--data", default="runs/data/photos")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--split", default="test", choices=["test", "validation"],
                        help="test photographs (the table) or validation ones (for choosing settings)")
    parser.add_argument("--tasks", nargs="+", help="only these task labels (e.g. sr4 'inpaint 50%%')")
    parser.add_argument("--step-size", help="ProjDiff step size of the one-sample run (default: restore's, 1)")
    parser.add_argument("--sigma-end", help="last noise level of the one-sample run, pixel units, or 'full' for the "
                        "engine's whole schedule (default: restore's, the prior's point-estimate level)")
    parser.add_argument("--mean", action=argparse.BooleanOptionalAction, default=True,
                        help="also the mean of 4 samples on the first size")
    parser.add_argument("--label", help="a RESULTS.md section of its own for this run, e.g. 'validation sr4'")
    parser.add_argument("--deepinv", action=argparse.BooleanOptionalAction, default=True,
                        help="run deepinv's DDRM and DiffPIR on the first size")
    args = parser.parse_args()
    sizes, steps = ([64], 4) if args.quick else (args.sizes, args.steps)
    prior = projdiff.load_prior(args.prior)
    rows, started = [], time.time()
    for size in sizes:
        images = crops(args.data, args.split, size)
        if args.quick:
            images = dict(list(images.items())[:2])
        first = size == sizes[0]
        for label, spec, sigma_y in settings(size):
            if args.tasks and label not in args.tasks:
                continue
            lam = tv_weight(args.data, size, spec, sigma_y) if spec.name == "deblur" else 0.0
            methods: dict[str, list] = {}
            wins = 0
            for i, (name, image) in enumerate(images.items()):
                if spec.degradation.needs_rgb and (image.shape[0] == 1 or prior.shape[0] == 1):
                    continue                  # no colour to recover, or a grayscale prior cannot colorize
                seed = derive_seed("photos-bench", name) % 2**31
                options = {} if args.step_size is None else {"step_size": _step_size(args.step_size)}
                if args.sigma_end == "full":
                    options["sigmas"] = default_sigmas(AffinePrior.unit_interval(prior), steps, "projdiff")
                elif args.sigma_end is not None:
                    options["sigma_end"] = float(args.sigma_end)
                one = restore_image(image, spec, prior, sigma_y=sigma_y, steps=steps, seed=seed, **options)
                methods.setdefault("projdiff", []).append((*scores(one.restored[None], image[None]),
                                                           one.metrics["seconds"]))
                op, y = simulate(spec, image[None], sigma_y, seed)
                t0 = time.time()
                base_name, base = classical(spec, op, y, image, lam)
                base_scores = scores(base, image[None])
                methods.setdefault(base_name, []).append((*base_scores, time.time() - t0))
                wins += methods["projdiff"][-1][0] > base_scores[0]
                if first and args.mean:
                    four = restore_image(image, spec, prior, sigma_y=sigma_y, steps=steps, num_samples=4, seed=seed)
                    methods.setdefault("projdiff mean of 4", []).append((*scores(four.restored[None], image[None]),
                                                                         four.metrics["seconds"]))
                if first and args.deepinv and image.shape[0] == prior.shape[0]:
                    for method in ("DDRM", "DiffPIR"):
                        t0 = time.time()
                        est = deepinv_method(method, prior, op, y, sigma_y, steps, seed)
                        if est is not None:
                            methods.setdefault(f"deepinv {method}", []).append((*scores(est, image[None]),
                                                                                time.time() - t0))
            counted = len(methods.get("projdiff", []))
            for method, values in methods.items():
                psnr, ssim, sec = (float(np.mean(v)) for v in zip(*values))
                beats = f"{wins} of {counted}" if method == "projdiff" else ""
                rows.append([f"{size}", label, f"{sigma_y:g}", method, f"{psnr:.2f}", f"{ssim:.3f}", f"{sec:.1f}",
                             len(values), beats])
                print(rows[-1], flush=True)
    body = (f"{args.split.capitalize()} photographs of `{args.data}` (never trained on; grayscale ones restored as "
            f"grayscale, skipped for colorization), {steps} noise levels, prior `{args.prior}`, one sample ending at "
            f"noise level {args.sigma_end or 'the prior recommendation'} (the mean of 4 runs the whole schedule: "
            "several samples are for the spread). See the script's "
            "docstring for the "
            "crops and methods. 'beats' counts the photographs on which projdiff's PSNR is above the classical "
            "baseline of the task (the row after it).\n\n"
            + table(["crop", "task", "sigma_y", "method", "PSNR (dB)", "SSIM", "s / image", "images",
                     "projdiff beats baseline"], rows)
            + f"\nWall time: {time.time() - started:.0f} s.\n")
    name = "photos" + ("-" + "-".join(args.label.lower().split()) if args.label else "")
    title = "Restoring photographs with the RGB photo prior (photo issue" + (f": {args.label})" if args.label else ")")
    emit(args.write, name, title, body)


if __name__ == "__main__":
    main()
