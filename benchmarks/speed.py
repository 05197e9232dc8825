"""Speed of the ProjDiff solver: overhead per step, throughput against batch size, peak memory.

    python benchmarks/speed.py --write [--prior P]     # RESULTS.md section
    python benchmarks/speed.py --quick [--prior DIR]    # smoke run, prints only

Threads: torch's default, or ``OMP_NUM_THREADS``; on a busy machine one thread per process can be
many times faster than two (the benchmarks record the thread count with every section).

1. Overhead: a solve's wall time minus the time spent inside the denoiser (a wrapper that times every
   call), per step, relative to one network call. Goal: 5% or less. Tasks and measurements of
   ``benchmarks/restoration.py``; the solve is repeated and the fastest repeat is kept.
2. Throughput: images per second of one batched solve against the batch size (sr4, sigma_y 0.05).
3. Memory: peak resident memory (RSS) of a solve above the process's RSS just before it (Linux only),
   each configuration in a fresh child process (so that no memory freed by an earlier run is reused). The network is
   replaced by the exact denoiser of a unit Gaussian prior, ``x / (1 + sigma^2)``, so that only the
   solver's tensors count; RGB images, batch 4, one sample. Against image size, and against step
   count, where it must be flat (the solver keeps no trajectory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _results import emit, table  # noqa: E402
from restoration import SETTINGS, images, measure  # noqa: E402

import projdiff  # noqa: E402
from projdiff.apps.restoration.degradations import build_operator  # noqa: E402
from projdiff.priors import AffinePrior  # noqa: E402
from projdiff.priors.base import Prior, sigma_column  # noqa: E402

TASKS = dict(SETTINGS)
MIB = 2**20
MMAP_THRESHOLD = 128 * 1024
"""glibc serves blocks above this from mmap and returns them on free. Its default threshold grows
after large frees, and freed tensors then stay in the heap: the RSS peak of a fresh process would
grow with the step count through fragmentation (about 15 MB over 1000 steps at 256x256), not through
live tensors."""


class TimedPrior(Prior):
    """Wraps a prior and accumulates the wall time (``seconds``) and number (``calls``) of its denoiser calls."""

    def __init__(self, prior: Prior):
        super().__init__()
        self.prior = prior
        self.shape, self.sigmas = prior.shape, prior.sigmas
        self.sigma_min, self.sigma_max = prior.sigma_min, prior.sigma_max
        self.seconds, self.calls = 0.0, 0

    def check_shape(self, shape) -> None:
        self.prior.check_shape(shape)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        started = time.perf_counter()
        out = self.prior.denoise(x, sigma)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return out


class UnitGaussian(Prior):
    """``x ~ N(0, I)`` for any shape: the exact denoiser ``x / (1 + sigma^2)``, which allocates only its output."""

    sigma_min, sigma_max = 0.002, 80.0

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x / (1 + sigma_column(sigma, x) ** 2)


def _best_solve(op, prior: Prior, y: torch.Tensor, sigma_y: float, steps: int,
                repeats: int) -> tuple[float, float, int]:
    """(total seconds, denoiser seconds, NFE) of the fastest of ``repeats`` solves, after one warm-up solve."""
    timed = TimedPrior(prior)
    projdiff.solve(op, timed, y, sigma_y=sigma_y, steps=2, seed=0, progress=False)
    best = None
    for _ in range(repeats):
        timed.seconds, timed.calls = 0.0, 0
        res = projdiff.solve(op, timed, y, sigma_y=sigma_y, steps=steps, seed=0, progress=False)
        if best is None or res.seconds < best[0]:
            best = (res.seconds, timed.seconds, res.nfe)
    return best


def overhead(prior: Prior, quick: bool) -> tuple[str, float]:
    steps, repeats = (3, 1) if quick else (20, 3)
    batches = (1,) if quick else (1, 32)
    truth = images("test", 0, max(batches))
    rows, worst = [], 0.0
    for label, spec in SETTINGS:
        for sigma_y in (0.0, 0.05):
            for batch in batches:
                op, y = measure(spec, truth[:batch], sigma_y, 0)
                total, net, nfe = _best_solve(op, prior, y, sigma_y, steps, repeats)
                per_call = net / nfe
                per_step = (total - net) / steps
                worst = max(worst, per_step / per_call)
                rows.append([label, f"{sigma_y:g}", batch, f"{1000 * total / steps:.1f}", f"{1000 * per_call:.1f}",
                             f"{1000 * per_step:.2f}", f"{100 * per_step / per_call:.1f}%"])
                print(rows[-1], flush=True)
    body = (f"{steps} steps (NFE {steps + 1}), fastest of {repeats} solves after a warm-up; one sample per image. "
            "Overhead = (solve time - time inside the denoiser) / steps; the denoiser wrapper's own cost counts as "
            f"network time. Goal: overhead <= 5% of one network call. Worst case: {100 * worst:.1f}%.\n\n"
            + table(["task", "sigma_y", "batch", "ms / step", "ms / network call", "overhead ms / step",
                     "overhead / call"], rows))
    return body, worst


def throughput(prior: Prior, quick: bool) -> str:
    steps = 3 if quick else 20
    batches = (1, 2) if quick else (1, 4, 16, 64)
    truth = images("test", 0, max(batches))
    rows = []
    for batch in batches:
        op, y = measure(TASKS["sr4"], truth[:batch], 0.05, 0)
        total, net, nfe = _best_solve(op, prior, y, 0.05, steps, 1)
        rows.append([batch, f"{batch / total:.2f}", f"{total:.2f}", f"{100 * (total - net) / total:.1f}%"])
        print(rows[-1], flush=True)
    return (f"sr4, sigma_y 0.05, {steps} steps (NFE {steps + 1}), one sample per image, one batched solve after a "
            "warm-up.\n\n" + table(["batch", "images / s", "seconds", "solver share of the time"], rows))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def measure_memory(task: str, size: int, steps: int, batch: int) -> dict:
    """Run in a child process: peak RSS of one solve at (batch, 3, size, size) above the RSS before it, in bytes.

    The peak is Linux's ``VmHWM``, reset to the current RSS just before the solve (``/proc/self/clear_refs``).
    """
    torch.set_num_threads(1)
    prior = UnitGaussian()
    generator = torch.Generator().manual_seed(0)
    warm = build_operator(TASKS[task], (3, 16, 16), generator)
    projdiff.solve(warm, prior, warm(torch.rand(1, 3, 16, 16)), sigma_y=0.05, steps=2, seed=0, progress=False)
    op = build_operator(TASKS[task], (3, size, size), generator)
    clean = op(torch.rand(batch, 3, size, size, generator=generator))
    y = clean + 0.05 * torch.randn(clean.shape, generator=generator)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    projdiff.solve(op, prior, y, sigma_y=0.05, steps=steps, seed=0, progress=False)
    return {"extra": (_status_kib("VmHWM") - before) * 1024, "state": batch * 3 * size * size * 4}


def _child(task: str, size: int, steps: int, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", task, str(size), str(steps), str(batch)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(quick: bool) -> str:
    batch = 2 if quick else 4
    sizes, steps_grid, base_steps, base_size = (((16, 32), (2, 8), 2, 32) if quick
                                                else ((32, 64, 128, 256), (10, 100, 1000), 20, 128))
    tasks = ("sr4",) if quick else ("sr4", "inpaint 50%", "deblur gauss 2")
    rows = []
    for task in tasks:
        for size, steps in [(s, base_steps) for s in sizes] + [(base_size, s) for s in steps_grid if s != base_steps]:
            r = _child(task, size, steps, batch)
            rows.append([task, f"{size}x{size}", steps, f"{r['state'] / MIB:.2f}", f"{r['extra'] / MIB:.1f}",
                         f"{r['extra'] / r['state']:.1f}"])
            print(rows[-1], flush=True)
    return (f"RGB images, batch {batch}, one sample, sigma_y 0.05 (deblur: per-mode path), unit-Gaussian denoiser, "
            f"one fresh process per row with a fixed glibc mmap threshold ({MMAP_THRESHOLD // 1024} KiB, so that "
            "RSS follows live tensors, not the allocator's free lists). Peak extra = peak RSS during the solve "
            "(Linux VmHWM, reset just before it) minus the RSS before it; state = one (batch, 3, H, W) float32 "
            "tensor.\n\n"
            + table(["task", "image", "steps", "state MiB", "peak extra MiB", "peak extra / state"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--prior", default="bundled:fashion-mnist-32", help="network for overhead and throughput")
    parser.add_argument("--memory-child", nargs=4, metavar=("TASK", "SIZE", "STEPS", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        task, size, steps, batch = args.memory_child
        print(json.dumps(measure_memory(task, int(size), int(steps), int(batch))))
        return
    started, load = time.time(), os.getloadavg()[0]
    prior = AffinePrior.unit_interval(projdiff.load_prior(args.prior))
    overhead_body, worst = overhead(prior, args.quick)
    body = (f"Prior `{args.prior}` (pixels in [0, 1]), Fashion-MNIST test images (32x32), ProjDiff defaults. "
            f"Load average when started: {load:.1f} (timings on a shared machine vary).\n\n"
            f"### Overhead per step against one network call\n\n{overhead_body}"
            f"\n### Throughput against batch size\n\n{throughput(prior, args.quick)}"
            f"\n### Peak memory against image size and step count\n\n{memory(args.quick)}"
            f"\nWall time: {time.time() - started:.0f} s.\n")
    emit(args.write, "speed", "Solver speed and memory (peers issue)", body)


if __name__ == "__main__":
    main()
