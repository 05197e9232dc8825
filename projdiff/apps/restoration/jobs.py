"""Batch restoration jobs from a TOML file: inputs x tasks x settings, resumable and shardable.

A job file::

    prior = "bundled:fashion-mnist-32"   # as --prior (default shown)
    out = "results"                      # output folder, relative to the job file
    seed = 0
    steps = 100
    samples = 1
    threads = 1                          # CPU threads per process (default 1)
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
is not done exactly once, and no output name ever holds a partial file. ``out/manifest.json``
summarises the job, written by the main process at the end of every run.

Under ``accelerate launch`` (or ``torchrun``) the main process recovers the folder and lists the
items not done; these are shared round-robin between the processes.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import itertools
import signal
import socket
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from projdiff.apps.restoration.degradations import TaskSpec
from projdiff.apps.restoration.image_io import read_image
from projdiff.apps.restoration.job_store import JobStore
from projdiff.apps.restoration.outputs import write_restoration
from projdiff.apps.restoration.restoration import restore_image
from projdiff.priors import load_prior
from projdiff.utils.files import write_json
from projdiff.utils.seeds import derive_seed

JOB_KEYS = {"prior", "out", "seed", "steps", "samples", "inputs", "tasks", "pad", "threads"}
ITEM_KEYS = {"task", "sigma_y", "steps", "samples"}


@dataclass(frozen=True)
class Item:
    """One unit of work: restore ``input`` under ``spec`` with these settings."""

    id: str
    input: Path
    spec: TaskSpec
    sigma_y: float
    steps: int
    samples: int
    seed: int

    @property
    def folder(self) -> str:
        return f"{self.spec.label()}_sigma{self.sigma_y:g}_steps{self.steps}_samples{self.samples}"


@dataclass
class Job:
    """A parsed job file: ``items`` in the file's order, ``threads`` CPU threads per process."""

    path: Path
    prior: str
    out: Path
    items: list[Item]
    pad: bool
    threads: int


def _expand(entry: dict) -> list[dict]:
    """A task entry with list values -> one dict per combination (lists of boxes stay whole)."""
    keys, choices = [], []
    for key, value in entry.items():
        is_box = key == "box" and isinstance(value, list) and value and not isinstance(value[0], list)
        keys.append(key)
        choices.append(value if isinstance(value, list) and not is_box else [value])
    return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]


def load_job(path: str | Path) -> Job:
    """Parse and validate a job file; raises ValueError naming the file and the problem."""
    path = Path(path)
    try:
        config = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such job file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(config) - JOB_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; expected some of {sorted(JOB_KEYS)}")
    base = path.parent
    inputs = config.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValueError(f"{path}: inputs: expected a non-empty list of files or glob patterns")
    files: list[Path] = []
    for pattern in inputs:
        matches = sorted(glob.glob(str(base / pattern))) if any(c in pattern for c in "*?[") else [str(base / pattern)]
        if not matches:
            raise ValueError(f"{path}: inputs: {pattern!r} matches no file")
        files.extend(Path(m) for m in matches)
    stems = [f.stem for f in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(f"{path}: inputs: several files share the name(s) {', '.join(clashes)}; outputs would clash")
    tasks = config.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise ValueError(f"{path}: tasks: expected at least one [[tasks]] table")
    seed = int(config.get("seed", 0))
    threads = config.get("threads", 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"{path}: threads: expected an integer >= 1, got {threads!r}")
    items = []
    for number, entry in enumerate(tasks, 1):
        if "task" not in entry:
            raise ValueError(f"{path}: tasks #{number}: missing 'task'")
        for combo in _expand(entry):
            settings = {k: v for k, v in combo.items() if k not in ITEM_KEYS}
            spec = TaskSpec(combo["task"], settings)
            sigma_y = float(combo.get("sigma_y", 0.0))
            steps = int(combo.get("steps", config.get("steps", 100)))
            samples = int(combo.get("samples", config.get("samples", 1)))
            for file in files:
                probe = Item("", file, spec, sigma_y, steps, samples, 0)
                item_id = f"{probe.folder}/{file.stem}"
                items.append(Item(item_id, file, spec, sigma_y, steps, samples, derive_seed(seed, item_id) % 2**31))
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: tasks: two entries give the same item; remove the duplicate settings")
    return Job(path, str(config.get("prior", "bundled:fashion-mnist-32")), base / config.get("out", "results"),
               items, bool(config.get("pad", False)), threads)


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


def run_job(path: str | Path, *, progress: bool = True, prior=None) -> dict:
    """Run (or resume) a job in this process or in each process of a launch.

    The main process locks the output folder, recovers it from an interrupted run and lists the
    items not done; those are shared round-robin between the processes. Items that fail
    (unreadable input, bad setting) are recorded with their error and the others go on. SIGINT or
    SIGTERM stops every process after its current item.

    Returns the summary written to ``manifest.json`` (the same in every process) with
    ``this_process``, the index of the calling process, added.
    """
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, gather_object

    job = load_job(path)
    state = PartialState(cpu=True)  # items are computed on the CPU; processes talk through gloo
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
        prior = prior if prior is not None else load_prior(job.prior)
        mine = [job.items[i] for i in pending[state.process_index :: state.num_processes]]
        stats = _run_items(job, store, prior, mine, stop, state.process_index, progress)
        processes = gather_object([stats])
        summary = [summarize(job, store, processes, len(job.items) - len(pending)) if state.is_main_process
                   else None]
        broadcast_object_list(summary)
    return {**summary[0], "this_process": state.process_index}


def _run_items(job: Job, store: JobStore, prior, items: list[Item], stop: _StopAfterItem, process: int,
               progress: bool) -> dict:
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
        record = _run_item(job, store, prior, item, process)
        counts[record["status"]] += 1
        if progress:
            print(f"[{process}] {record['status']:6s} {item.id}"
                  + (f"  ({record['error']})" if record["status"] == "failed" else ""), flush=True)
    return {"process": process, "host": socket.gethostname(), "ran": counts["done"], "failed": counts["failed"],
            "stopped": stopped, "seconds": round(time.time() - started, 3),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _run_item(job: Job, store: JobStore, prior, item: Item, process: int) -> dict:
    """One attempt at ``item``: restore into a staging folder, then commit (exactly once)."""
    key, started = _key(item), time.time()
    staging = store.begin(key, item.id)
    base = {"id": item.id, "input": str(item.input), "seed": item.seed, "process": process,
            "attempt": store.attempt}
    try:
        image = read_image(item.input)
        result = restore_image(image, item.spec, prior, sigma_y=item.sigma_y, steps=item.steps,
                               num_samples=item.samples, seed=item.seed, pad=job.pad)
        paths = write_restoration(staging, item.input.stem, result, overwrite=True)
        record = {**base, "status": "done", "outputs": [f"{item.folder}/{p.name}" for p in paths],
                  "metrics": result.metrics, "seconds": round(time.time() - started, 3)}
        if not store.commit(key, staging, record):
            record["status"] = "duplicate"  # another attempt committed it first; this one is dropped
    except (ValueError, TypeError, OSError) as exc:
        store.discard(staging)
        record = {**base, "status": "failed", "error": str(exc)}
        store.fail(key, record)
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
    return summary
