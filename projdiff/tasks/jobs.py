"""Batch restoration jobs from a TOML file: inputs x tasks x settings, resumable and shardable.

A job file::

    prior = "bundled:fashion-mnist-32"   # as --prior (default shown)
    out = "results"                      # output folder, relative to the job file
    seed = 0
    steps = 100
    samples = 1
    inputs = ["images/*.png"]            # files or glob patterns, relative to the job file

    [[tasks]]
    task = "sr4"
    sigma_y = [0.0, 0.05]                # a list expands: one item per value

    [[tasks]]
    task = "inpaint"
    fraction = 0.5

Every (input, task, setting) combination is an item with a stable id; its random seed is derived
from the job seed and that id only, so results do not depend on the order, on which items ran
before, or on how many processes share the job. Outputs of an item go to
``out/<setting label>/<input stem>_*`` and are written atomically; a record
``out/.projdiff-job/<item id>.json`` is written last, so an item either has a record and all its
files, or is run again. ``out/manifest.json`` summarises the job.

Under ``accelerate launch -m projdiff run JOB.toml`` the items are shared round-robin between the
processes (no other coordination is needed: each item has its own files).
"""

from __future__ import annotations

import glob
import itertools
import json
import signal
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from projdiff.atomic import write_json
from projdiff.engine.noise import derive_seed
from projdiff.tasks.degradations import SETTINGS, TaskSpec

JOB_KEYS = {"prior", "out", "seed", "steps", "samples", "inputs", "tasks", "pad"}
ITEM_KEYS = {"task", "sigma_y", "steps", "samples"}
RECORDS = ".projdiff-job"


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
    path: Path
    prior: str
    out: Path
    items: list[Item]
    pad: bool


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
               items, bool(config.get("pad", False)))


def _record_path(job: Job, item: Item) -> Path:
    return job.out / RECORDS / (item.id.replace("/", "__") + ".json")


def _is_done(job: Job, item: Item) -> bool:
    from projdiff.tasks.outputs import output_paths

    record = _record_path(job, item)
    if not record.is_file():
        return False
    try:
        status = json.loads(record.read_text()).get("status")
    except (json.JSONDecodeError, OSError):
        return False
    return status == "done" and all(p.is_file() for p in output_paths(job.out / item.folder, item.input.stem))


class _StopAfterItem:
    """SIGINT handler: finish the current item, then stop (a second SIGINT interrupts at once)."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("projdiff run: stopping after the current item (Ctrl-C again to abort)", flush=True)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)
        return False


def run_job(path: str | Path, *, progress: bool = True, prior=None) -> dict:
    """Run (or resume) a job; returns the summary written to ``manifest.json``.

    Items that fail (unreadable input, bad setting) are recorded with their error and the
    others go on; the summary's ``failed`` list names them.
    """
    from accelerate import PartialState

    from projdiff.priors import load_prior
    from projdiff.tasks.image_io import read_image
    from projdiff.tasks.outputs import write_restoration
    from projdiff.tasks.restoration import restore_image

    job = load_job(path)
    state = PartialState()
    mine = job.items[state.process_index :: state.num_processes]
    prior = prior if prior is not None else load_prior(job.prior)
    done = skipped = 0
    stopped = False
    with _StopAfterItem() as stop:
        for item in mine:
            if stop.requested:
                stopped = True
                break
            if _is_done(job, item):
                skipped += 1
                continue
            started = time.time()
            try:
                image = read_image(item.input)
                result = restore_image(image, item.spec, prior, sigma_y=item.sigma_y, steps=item.steps,
                                       num_samples=item.samples, seed=item.seed, pad=job.pad)
                paths = write_restoration(job.out / item.folder, item.input.stem, result, overwrite=True)
                record = {"id": item.id, "status": "done", "input": str(item.input), "seed": item.seed,
                          "outputs": [str(p.relative_to(job.out)) for p in paths], "metrics": result.metrics,
                          "seconds": round(time.time() - started, 3), "process": state.process_index}
                done += 1
            except (ValueError, TypeError, OSError) as exc:
                record = {"id": item.id, "status": "failed", "input": str(item.input), "error": str(exc),
                          "process": state.process_index}
            write_json(_record_path(job, item), record)
            if progress:
                print(f"[{state.process_index}] {record['status']:6s} {item.id}"
                      + (f"  ({record['error']})" if record["status"] == "failed" else ""), flush=True)
    state.wait_for_everyone()
    summary = summarize(job, stopped)
    summary["this_process"] = {"ran": done, "skipped_done": skipped}
    return summary


def summarize(job: Job, stopped: bool = False) -> dict:
    """Collect the item records into ``manifest.json`` (written by the main process)."""
    from accelerate import PartialState

    records = {}
    for item in job.items:
        path = _record_path(job, item)
        records[item.id] = json.loads(path.read_text()) if path.is_file() else {"id": item.id, "status": "pending"}
    failed = [{"id": k, "error": r.get("error")} for k, r in records.items() if r["status"] == "failed"]
    summary = {"job": str(job.path), "items": len(job.items),
               "done": sum(r["status"] == "done" for r in records.values()),
               "failed": failed, "pending": sum(r["status"] == "pending" for r in records.values()),
               "stopped_early": stopped, "records": list(records.values())}
    if PartialState().is_main_process:
        write_json(job.out / "manifest.json", summary)
    return summary


def task_settings_help() -> str:
    """One line per task with its settings, for ``--help`` texts."""
    return "\n".join(f"  {name:9s} {', '.join(sorted(s)) or '-'}" for name, s in SETTINGS.items())
