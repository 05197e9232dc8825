"""Load benchmark of batch jobs: many small items with 1 and with 2 processes.

    python benchmarks/load.py --write      # 1000 items, writes the table into benchmarks/RESULTS.md
    python benchmarks/load.py --quick      # 20 items, prints only (smoke test)

The job restores random 32x32 grayscale PNGs (half the items sr4 without noise, half with
sigma_y = 0.05) in 3 steps, so the per-item overhead (reading, writing four files, committing)
dominates. One process runs as ``python -m projdiff run``, two under
``accelerate launch --multi_gpu --num_processes 2`` (CPU processes, gloo). For each it reports the
wall time of the whole command (start-up included) and of the item loop (the slowest process),
items per second for both, and the peak resident memory (``ru_maxrss``) of each process; then it
checks that every item was attempted once and has its four output files, and that nothing else is
in the output folders.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import table, write_section  # noqa: E402

from projdiff.priors import bundled_priors  # noqa: E402

STEPS = 3
SIZE = 32
BUNDLED = "fashion-mnist-32"


def make_inputs(folder: Path, count: int) -> None:
    """``count`` random SIZE x SIZE grayscale PNGs."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray((rng.random((SIZE, SIZE)) * 255).astype(np.uint8)).save(folder / f"img{i:05d}.png")


def make_prior(folder: Path) -> tuple[str, str]:
    """The bundled prior if it exists, else a tiny random UNet saved in ``folder``; returns
    ``(prior argument, description)``."""
    if BUNDLED in bundled_priors():
        return f"bundled:{BUNDLED}", f"the bundled prior `bundled:{BUNDLED}`"
    from projdiff.priors import DiffusersPrior
    from projdiff.training import Recipe, build_model
    from projdiff.training.architectures import TINY

    unet, scheduler = build_model(Recipe(TINY, data=None, shape=(1, SIZE, SIZE)))
    DiffusersPrior(unet, scheduler).save_pretrained(folder)
    return str(folder), (f"a tiny random UNet (`--model tiny`: widths 8-16, {sum(p.numel() for p in unet.parameters()):,} "
                         f"parameters), because `bundled:{BUNDLED}` does not exist yet")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(processes: int, job: Path) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "projdiff", "run", str(job), "--quiet"]
    accelerate = str(Path(sys.executable).parent / "accelerate")
    return [accelerate, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
            "-m", "projdiff", "run", str(job), "--quiet"]


def check_exactly_once(out: Path, manifest: dict) -> None:
    """Every item done, attempted once, with its four files; nothing else under the output names.

    Raises SystemExit naming the first violation.
    """
    records = manifest["records"]
    expected = {name for r in records for name in r["outputs"]} if manifest["done"] == len(records) else set()
    present = {str(p.relative_to(out)) for p in out.rglob("*")
               if p.is_file() and ".projdiff-job" not in p.parts and p.name not in ("manifest.json", "summary.md")}
    checks = {
        "not every item is done": manifest["done"] == manifest["items"] == len(records),
        "an item was attempted more than once": all(r["attempts"] == 1 for r in records),
        "items share output names": len(expected) == 4 * len(records),
        "output files missing or unexpected": present == expected,
        "commit count differs from the item count":
            len(list((out / ".projdiff-job" / "done").iterdir())) == len(records),
        "attempts left in staging": not any((out / ".projdiff-job" / "staging").glob("*")),
    }
    for problem, ok in checks.items():
        if not ok:
            raise SystemExit(f"{out}: {problem}")


def run(processes: int, work: Path, prior: str, inputs: Path) -> list:
    job = work / f"job{processes}.toml"
    out = work / f"res{processes}"
    job.write_text(f'prior = "{prior}"\nsteps = {STEPS}\nout = "{out.name}"\ninputs = ["{inputs.name}/*.png"]\n'
                   '[[tasks]]\ntask = "sr4"\nsigma_y = [0.0, 0.05]\n')
    started = time.perf_counter()
    result = subprocess.run(command(processes, job), capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{processes} process(es): exit code {result.returncode}\n{result.stdout}{result.stderr}")
    manifest = json.loads((out / "manifest.json").read_text())
    check_exactly_once(out, manifest)
    items = manifest["items"]
    loop = max(p["seconds"] for p in manifest["processes"])
    memory = " / ".join(f"{p['peak_rss_mib']:.0f}" for p in manifest["processes"])
    row = [processes, items, f"{wall:.1f}", f"{items / wall:.1f}", f"{loop:.1f}", f"{items / loop:.1f}", memory]
    print(f"{processes} process(es): {items} items, {items / wall:.1f} items/s with start-up, "
          f"{items / loop:.1f} items/s in the item loop, peak RSS {memory} MiB", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="20 items (smoke test)")
    parser.add_argument("--items", type=int, default=1000, help="items, rounded down to even (default 1000)")
    args = parser.parse_args()
    items = (20 if args.quick else args.items) // 2 * 2
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="projdiff-load-") as tmp:
        work = Path(tmp)
        make_inputs(work / "inputs", items // 2)
        prior, prior_text = make_prior(work / "prior")
        rows = [run(processes, work, prior, work / "inputs") for processes in (1, 2)]
    print("every item's outputs exist exactly once (1 and 2 processes)")
    body = (
        f"{items} items: {items // 2} random {SIZE}x{SIZE} grayscale PNGs x 2 settings (sr4 without noise and "
        f"with sigma_y 0.05), {STEPS} steps, 1 sample, 1 thread per process; prior: {prior_text}. "
        "Every item writes four files (restored, measurement, grid, metrics) and is committed exactly once; "
        "after each run the script checked that every item was attempted once and has its four files and "
        "nothing else. Wall = the whole command, start-up (Python, torch, prior) included; loop = the item "
        f"loop of the slowest process. Peak RSS = `ru_maxrss` of each process. Load average before the runs: "
        f"{load:.2f}.\n\n"
        + table(["processes", "items", "wall (s)", "items/s (wall)", "loop (s)", "items/s (loop)",
                 "peak RSS per process (MiB)"], rows)
    )
    if args.write:
        write_section("load", "Batch job load (scale-out issue)", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
