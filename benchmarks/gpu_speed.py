"""Time ProjDiff on a CUDA GPU: per-step time and throughput of the bundled prior under float32,
autocast bfloat16 / float16, channels_last and, optionally, torch.compile.

    python benchmarks/gpu_speed.py gpu_speed.md                       # bundled prior, sr4, 50 steps
    python benchmarks/gpu_speed.py out.md --prior DIR --batches 1 64 --steps 20 --compile

Self-contained (torch and projdiff only). Prints a Markdown table headed by the GPU name and writes
it to the file given. Columns: milliseconds per solver step; milliseconds per network call alone
(the denoiser on the same batch, ``steps + 1`` calls in a row); the solver's overhead per step,
``(solve time - (steps + 1) calls) / steps``, relative to one call; images per second; peak GPU
memory; and the mean absolute difference of the restored images from the float32 run with the same
seeds (pixels in [0, 1]). Every configuration
is warmed up first (which also compiles). Above the table, the GPU's float32 result for the first
batch size is compared with the same solve on the CPU (same seeds: the engine draws its noise on the
CPU, so the two differ only by floating-point arithmetic). Without a CUDA device it prints and writes
"no CUDA device" and exits with code 0.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import shlex
import sys
import time
from pathlib import Path

import torch

import projdiff
from projdiff.apps.restoration.degradations import TaskSpec, build_operator
from projdiff.priors import AffinePrior

PRECISIONS = {"float32": None, "autocast bf16": torch.bfloat16, "autocast fp16": torch.float16}


def _synchronized_seconds(fn) -> float:
    torch.cuda.synchronize()
    started = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - started


def _configured_prior(raw, channels_last: bool, compiled: bool):
    model = copy.deepcopy(raw)
    if channels_last:
        model.unet = model.unet.to(memory_format=torch.channels_last)
    if compiled:
        model.unet = torch.compile(model.unet)
    return AffinePrior.unit_interval(model)


def time_configuration(raw, op, y: torch.Tensor, steps: int, dtype, channels_last: bool, compiled: bool):
    """(ms per step, ms per network call, peak MiB, restored images (B, *shape)) for one configuration."""
    prior = _configured_prior(raw, channels_last, compiled)
    autocast = (lambda: torch.autocast("cuda", dtype=dtype)) if dtype is not None else contextlib.nullcontext
    sigma = torch.full((y.shape[0],), 0.3, device=y.device)
    x = torch.rand((y.shape[0], *op.input_shape), device=y.device)

    def solve():
        with autocast():
            return projdiff.solve(op, prior, y, sigma_y=0.05, steps=steps, seed=0, progress=False).x

    def network():
        with autocast(), torch.no_grad():
            for _ in range(steps + 1):
                prior.denoise(x, sigma)

    solve(), network()  # warm-up (and compilation)
    torch.cuda.reset_peak_memory_stats()
    result = {}
    seconds = _synchronized_seconds(lambda: result.setdefault("x", solve()))
    peak = torch.cuda.max_memory_allocated() / 2**20
    per_call = _synchronized_seconds(network) / (steps + 1)
    return 1000 * seconds / steps, 1000 * per_call, peak, result["x"]


def cpu_agreement(args, op_cuda, y: torch.Tensor, x_cuda: torch.Tensor) -> str:
    """One line: how far the CUDA float32 restoration ``x_cuda`` is from the same solve on the CPU."""
    prior = AffinePrior.unit_interval(projdiff.load_prior(args.prior))
    op = copy.deepcopy(op_cuda).to("cpu")
    x_cpu = projdiff.solve(op, prior, y.cpu(), sigma_y=0.05, steps=args.steps, seed=0, progress=False).x
    diff = (x_cuda.cpu() - x_cpu).abs()
    return (f"CUDA float32 against the CPU (batch {y.shape[0]}, same seeds): mean abs diff {float(diff.mean()):.2e}, "
            f"max {float(diff.max()):.2e}; TF32 convolutions {torch.backends.cudnn.allow_tf32}, "
            f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}.")


def report(args) -> str:
    stamp = (f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`  \n"
             f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}  \n"
             f"torch {torch.__version__}")
    if not torch.cuda.is_available():
        return f"no CUDA device: nothing timed.\n\n{stamp}\n"
    device = torch.device("cuda")
    raw = projdiff.load_prior(args.prior).to(device)
    shape = (raw.shape[0] or 1, args.size, args.size)
    op = build_operator(TaskSpec(args.task), shape, torch.Generator().manual_seed(0)).to(device)
    generator = torch.Generator(device).manual_seed(0)
    rows, agreement = [], ""
    for batch in args.batches:
        clean = op(torch.rand((batch, *shape), generator=generator, device=device))
        y = clean + 0.05 * torch.randn(clean.shape, generator=generator, device=device)
        reference = None
        for compiled in ((False, True) if args.compile else (False,)):
            for name, dtype in PRECISIONS.items():
                for channels_last in (False, True):
                    ms_step, ms_call, peak, x = time_configuration(raw, op, y, args.steps, dtype, channels_last,
                                                                    compiled)
                    reference = x if reference is None else reference
                    if not agreement:
                        agreement = cpu_agreement(args, op, y, x)
                        print(agreement, flush=True)
                    label = name + (" + channels_last" if channels_last else "") + (" + compile" if compiled else "")
                    overhead = (ms_step - ms_call * (args.steps + 1) / args.steps) / ms_call
                    per_second = batch * 1000 / (ms_step * args.steps)
                    rows.append(f"| {label} | {batch} | {ms_step:.2f} | {ms_call:.2f} | {100 * overhead:.1f}% | "
                                f"{per_second:.1f} | {peak:.0f} | {float((x - reference).abs().mean()):.2e} |")
                    print(rows[-1], flush=True)
    header = ("| configuration | batch | ms / step | ms / network call | overhead / call | images / s "
              "| peak GPU MiB | mean abs diff vs float32 |\n|" + "---|" * 8)
    return (f"## ProjDiff on {torch.cuda.get_device_name(device)}\n\n{stamp}, CUDA {torch.version.cuda}  \n"
            f"Prior `{args.prior}`, task {args.task}, {args.size}x{args.size}, sigma_y 0.05, {args.steps} steps "
            f"(NFE {args.steps + 1}), one sample per image.\n\n{agreement}\n\n{header}\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="Markdown file to write")
    parser.add_argument("--prior", default="bundled:fashion-mnist-32")
    parser.add_argument("--task", default="sr4", help="restoration task (default sr4)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels (default 32)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd networks")
    args = parser.parse_args()
    text = report(args)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
