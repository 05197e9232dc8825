"""Batch restoration jobs from a TOML file: inputs x tasks x settings, resumable and shardable.

A job file (its schema and path rules: :mod:`projdiff.apps.restoration.job_file`)::

    prior = "bundled:fashion-mnist-32"   # as --prior (default shown)
    out = "results"                      # output folder, inside the job file's folder
    seed = 0
    steps = 100
    samples = 1
    threads = 1                          # CPU threads per process (default 1)
    device = "auto"                      # as --device (the command line's flag wins)
    inputs = ["images/*.png"]            # files or glob patterns, relative to the job file

    [[tasks]]
    task = "sr4"
    sigma_y = [0.0, 0.05]                # a list expands: one item per value

    [[tasks]]
    task = "inpaint"
    fraction = 0.5

Every (input, task, setting) combination is an item with a stable id; its random seed is derived
from the job seed and that id only. Every process computes with exactly ``threads`` CPU threads
(``torch.set_num_threads``, whatever ``OMP_NUM_THREADS`` says), because some operations (FFT
blurs, for one) round differently with different thread counts. So the output files are
bit-identical whatever the order of the items, which items ran before, and how many processes
share the job; use more processes, not more threads, to use more cores.

Outputs of an item go to ``out/<setting label>/<input stem>_*``. Completion is exactly-once and
kill-safe (:mod:`projdiff.apps.restoration.job_store`): after a kill or a Ctrl-C, a rerun does each item that
is not done exactly once, and no output name ever holds a partial file; an item whose outputs
were deleted or changed since (their SHA-256 is in its record) runs again. Whatever goes wrong in
one item (an unreadable input, a setting that does not fit the image, a size that does not fit in
memory, a bug) fails that item only: its error is recorded and the others run.
``out/manifest.json`` summarises the job, written by the main process at the end of every run,
and ``out/summary.md`` is its table: one row per (task, settings), with the mean PSNR, SSIM and
seconds over the items done (a paper-style table for ``tasks = "paper-256"``).

Under ``accelerate launch`` (or ``torchrun``) the main process recovers the folder and lists the
items not done; these are shared round-robin between the processes.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import socket
import time
from pathlib import Path
from typing import Iterator

from projdiff.apps.restoration.image_io import read_image
from projdiff.apps.restoration.job_file import Item, Job, load_job
from projdiff.apps.restoration.job_store import JobStore
from projdiff.apps.restoration.outputs import write_restoration
from projdiff.apps.restoration.restoration import restore_image
from projdiff.priors import load_prior
from projdiff.utils.files import write_bytes, write_json

__all__ = ["Item", "Job", "load_job", "run_job", "summarize"]


def _key(item: Item) -> str:
    """The item id as one file name."""
    return item.id.replace("/", "__")


class _StopAfterItem:
    """SIGINT/SIGTERM handler: finish the current item, then stop (a second SIGINT aborts at once).

    SIGTERM is what launchers (``accelerate launch``/``torchrun`` after a Ctrl-C) and batch
    schedulers send before they kill a process.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.previous: dict = {}

    def __enter__(self) -> "_StopAfterItem":
        self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("projdiff run: stopping after the current item (Ctrl-C again to abort)", flush=True)

    def __exit__(self, *exc) -> bool:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        return False


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Compute with ``threads`` CPU threads inside the block."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_job(path: str | Path, *, progress: bool = True, prior=None, allow_outside: bool = False,
            device: str | None = None, dtype: str | None = None) -> dict:
    """Run (or resume) a job in this process or in each process of a launch.

    The main process locks the output folder, recovers it from an interrupted run and lists the
    items not done; those are shared round-robin between the processes. Items that fail
    (unreadable input, bad setting, too large, anything else) are recorded with their error and
    the others go on. SIGINT or SIGTERM stops every process after its current item.

    Parameters
    ----------
    allow_outside : bool, default False
        Let the job file's ``out`` lie outside the job file's folder.
    device, dtype : str, optional
        As ``--device`` (auto, cpu, cuda, cuda:N) and ``--dtype``; default: the job file's keys.
        Under a launcher with several processes each process uses its own device.

    Returns the summary written to ``manifest.json`` (the same in every process) with
    ``this_process``, the index of the calling process, added.
    """
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, gather_object

    from projdiff.apps.arguments import device_of, dtype_of

    job = load_job(path, allow_outside)
    wanted = device_of(device or job.device)
    state = PartialState(cpu=wanted.type == "cpu")  # CPU processes talk through gloo
    placement = {"device": wanted if state.num_processes == 1 else state.device,
                 "dtype": dtype_of(dtype or job.dtype)}
    prior = prior if prior is not None else load_prior(job.prior)  # a bad prior fails before the folder is touched
    store = JobStore(job.out)
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(_StopAfterItem())
        stack.enter_context(_torch_threads(job.threads))
        stack.callback(store.close)
        plan: list = [None]
        if state.is_main_process:
            try:
                stack.enter_context(store.lock())
                store.recover()
                plan = [[i for i, item in enumerate(job.items) if not store.is_done(_key(item))]]
            except OSError as exc:
                plan = [exc]
        broadcast_object_list(plan)
        if isinstance(plan[0], Exception):
            raise plan[0]
        pending: list[int] = plan[0]
        mine = [job.items[i] for i in pending[state.process_index :: state.num_processes]]
        stats = _run_items(job, store, prior, mine, stop, state.process_index, progress, placement)
        processes = gather_object([stats])
        summary = [summarize(job, store, processes, len(job.items) - len(pending)) if state.is_main_process
                   else None]
        broadcast_object_list(summary)
        # gloo's broadcast can return on the source before every peer has read it; the barrier keeps any
        # process from closing the group (projdiff run does at exit) while a peer may still be reading
        # (suspected cause of a rare gloo abort at exit, "terminate called without an active exception")
        state.wait_for_everyone()
    return {**summary[0], "this_process": state.process_index}


def _run_items(job: Job, store: JobStore, prior, items: list[Item], stop: _StopAfterItem, process: int,
               progress: bool, placement: dict) -> dict:
    """Run ``items`` in order until done or stopped; returns this process's statistics
    (peak resident memory in MiB, wall time of the loop in seconds)."""
    import resource

    started = time.time()
    counts: collections.Counter = collections.Counter()
    stopped = False
    for item in items:
        if stop.requested:
            stopped = True
            break
        record = _run_item(store, prior, item, process, placement)
        counts[record["status"]] += 1
        if progress:
            print(f"[{process}] {record['status']:6s} {item.id}"
                  + (f"  ({record['error']})" if record["status"] == "failed" else ""), flush=True)
    return {"process": process, "host": socket.gethostname(), "ran": counts["done"], "failed": counts["failed"],
            "stopped": stopped, "seconds": round(time.time() - started, 3),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _error(exc: Exception) -> str:
    """One line for the manifest: the message of bad input, the type as well for anything else."""
    from projdiff.apps.base import USER_ERRORS

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return first if isinstance(exc, USER_ERRORS) and first else f"{type(exc).__name__}: {first}".rstrip(": ")


def _run_item(store: JobStore, prior, item: Item, process: int, placement: dict) -> dict:
    """One attempt at ``item``: restore into a staging folder, then commit (exactly once); any
    exception fails this item only."""
    key, started = _key(item), time.time()
    staging = store.begin(key, item.id)
    base = {"id": item.id, "input": str(item.input), "seed": item.seed, "process": process,
            "attempt": store.attempt}
    try:
        image = read_image(item.input)
        result = restore_image(image, item.spec, prior, sigma_y=item.sigma_y, steps=item.steps,
                               num_samples=item.samples, seed=item.seed, **placement)
        paths = write_restoration(staging, item.input.stem, result, overwrite=True)
        record = {**base, "status": "done", "outputs": [f"{item.folder}/{p.name}" for p in paths],
                  "metrics": result.metrics, "seconds": round(time.time() - started, 3)}
        if not store.commit(key, staging, record):
            record["status"] = "duplicate"  # another attempt committed it first; this one is dropped
    except Exception as exc:  # noqa: BLE001 - whatever it is, it fails this item only
        store.discard(staging)
        record = {**base, "status": "failed", "error": _error(exc)}
        store.fail(key, record)
    except BaseException:
        store.discard(staging)
        raise
    return record


def summarize(job: Job, store: JobStore, processes: list[dict], done_before: int) -> dict:
    """Collect the item records into ``manifest.json`` (call in the main process only).

    ``records`` holds one record per item (``status`` done, failed or pending) with ``attempts``, the
    number of attempts ever started at it; ``processes`` the statistics of each process of this run.
    """
    attempts = store.attempts()
    records = [{**(store.record(_key(item)) or {"id": item.id, "status": "pending"}), "attempts": attempts[item.id]}
               for item in job.items]
    status = collections.Counter(r["status"] for r in records)
    summary = {"job": str(job.path), "items": len(job.items), "done": status["done"],
               "failed": [{"id": r["id"], "input": r["input"], "error": r["error"]}
                          for r in records if r["status"] == "failed"],
               "pending": status["pending"], "stopped_early": any(p["stopped"] for p in processes),
               "done_before_this_run": done_before, "threads": job.threads, "processes": processes,
               "records": records}
    write_json(job.out / "manifest.json", summary)
    write_bytes(job.out / "summary.md", results_table(job, records).encode())
    return summary


def _mean(records: list[dict], key: str) -> float | None:
    values = [r["metrics"][key] for r in records if r.get("metrics", {}).get(key) is not None]
    return sum(values) / len(values) if values else None


def results_table(job: Job, records: list[dict]) -> str:
    """Markdown: per (task, settings) of ``job``, the mean PSNR / SSIM / seconds of the items done."""
    groups: dict[str, list[dict]] = {}
    for item, record in zip(job.items, records):
        groups.setdefault(item.folder, []).append(record)
    lines = [f"# {job.path.name}: {len(job.items)} items, prior `{job.prior}`", "",
             "| task and settings | done | PSNR (dB) | SSIM | s / item |", "|---|---|---|---|---|"]
    for folder, group in groups.items():
        done = [r for r in group if r["status"] == "done"]
        psnr, ssim = _mean(done, "psnr"), _mean(done, "ssim")
        seconds = [r["seconds"] for r in done if "seconds" in r]
        lines.append(f"| {folder} | {len(done)}/{len(group)} | " + (f"{psnr:.2f}" if psnr is not None else "-")
                     + " | " + (f"{ssim:.3f}" if ssim is not None else "-") + " | "
                     + (f"{sum(seconds) / len(seconds):.1f}" if seconds else "-") + " |")
    return "\n".join(lines) + "\n"
