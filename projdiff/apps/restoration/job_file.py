"""The batch job file (TOML): its schema, checked key by key, and the items it expands to.

Every key is checked for its type and range before anything runs, and every error names the file
and the key (``job.toml: tasks #2: steps: expected an integer >= 1, got 3.7``): no value is
silently coerced (``seed = 1.9``, ``pad = "no"``) and no list is empty (``fraction = []``).

``tasks`` is a list of ``[[tasks]]`` tables or the name of a suite of them (``TASK_SUITES``):
``tasks = "paper-256"`` runs the 256x256 tasks of the diffusion-restoration papers (DPS, DDRM,
DDNM, DiffPIR, ProjDiff) on every input.

Paths: ``inputs``, mask and kernel files and ``out`` are relative to the job file's folder
(absolute paths are taken as they are). The output folder must lie inside the job file's folder
unless the caller allows otherwise (``projdiff run --allow-outside``): a job file from elsewhere
cannot write outside its own folder.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from projdiff.apps.arguments import DEVICE_PATTERN, DTYPES
from projdiff.apps.restoration.degradations import DEGRADATIONS, TASKS, Setting, TaskSpec, parse_box
from projdiff.apps.restoration.restoration import DEFAULT_PRIOR
from projdiff.utils.seeds import derive_seed

MAX_STEPS = 100_000
ITEM_KEYS = ("task", "sigma_y", "steps", "samples")


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
    """A parsed job file: ``items`` in the file's order, ``threads`` CPU threads per process,
    ``device``/``dtype`` as ``--device``/``--dtype`` (the command line's win)."""

    path: Path
    prior: str
    out: Path
    items: list[Item]
    threads: int
    device: str = "auto"
    dtype: str = "float32"


class JobFileError(ValueError):
    """A job file that cannot be run; the message names the file and the key."""


def _integer(value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or \
            (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"expected an integer {bound}, got {value!r}")
    return value


def _string(value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _sigma(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a finite number >= 0, got {value!r}")
    return float(value)


def _device(value) -> str:
    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        raise ValueError(f"expected auto, cpu, cuda or cuda:N, got {value!r}")
    return value


def _dtype(value) -> str:
    if value not in DTYPES:
        raise ValueError(f"expected one of {', '.join(DTYPES)}, got {value!r}")
    return value


JOB_KEYS = {  # key: (check, default)
    "prior": (_string, DEFAULT_PRIOR),
    "out": (_string, "results"),
    "seed": (lambda v: _integer(v, 0, 2**63 - 1), 0),
    "steps": (lambda v: _integer(v, 1, MAX_STEPS), 100),
    "samples": (lambda v: _integer(v, 1), 1),
    "threads": (lambda v: _integer(v, 1), 1),
    "pad": (_boolean, False),  # padding is automatic; the key is accepted for old job files
    "device": (_device, "auto"),
    "dtype": (_dtype, "float32"),
    "inputs": (None, None),
    "tasks": (None, None),
}


TASK_SUITES: dict[str, list[dict]] = {
    # The 256x256 tasks of the papers, sigma_y 0.05 (pixels in [0, 1]): 4x super-resolution, a
    # 128x128 box in the centre, random inpainting (half the pixels observed), Gaussian blur
    # (sigma 3 px) and motion blur (61 px kernel, as DPS), colorization.
    "paper-256": [
        {"task": "sr4", "sigma_y": 0.05},
        {"task": "inpaint", "box": [64, 64, 128, 128], "sigma_y": 0.05},
        {"task": "inpaint", "fraction": 0.5, "sigma_y": 0.05},
        {"task": "deblur", "blur_sigma": 3.0, "sigma_y": 0.05},
        {"task": "deblur", "motion": 61, "sigma_y": 0.05},
        {"task": "colorize", "sigma_y": 0.05},
    ],
}


def _tasks(value) -> list:
    """The ``[[tasks]]`` tables of the job file: given, or those of a suite named by a string."""
    if isinstance(value, str):
        if value not in TASK_SUITES:
            raise JobFileError(f"tasks: expected [[tasks]] tables or a suite name ({', '.join(TASK_SUITES)}), "
                               f"got {value!r}")
        return [dict(entry) for entry in TASK_SUITES[value]]
    if not isinstance(value, list) or not value:
        raise JobFileError("tasks: expected at least one [[tasks]] table, or a suite name "
                           f"({', '.join(TASK_SUITES)})")
    return value


def _setting(setting: Setting, value, base: Path):
    """A setting's value from the job file, checked like its command-line flag; files resolved against ``base``."""
    if setting.kind == "file":
        file = base / _string(value)
        if not file.is_file():
            raise ValueError(f"{file}: no such file")
        return str(file)
    if setting.kind == "box":
        if isinstance(value, str):
            return parse_box(value)
        if not isinstance(value, list) or len(value) != 4 or any(isinstance(v, bool) or not isinstance(v, int)
                                                                  for v in value):
            raise ValueError(f"expected [top, left, height, width] (4 integers) or \"T,L,H,W\", got {value!r}")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return setting.parse(repr(value))


def _choices(key: str, value) -> list:
    """The values a task entry's key takes: a list expands (one item per value), anything else is one value.

    A box is a list itself: only a list of boxes expands."""
    if key == "box" and isinstance(value, list) and not (value and isinstance(value[0], list)):
        return [value]
    if isinstance(value, list):
        if not value:
            raise ValueError("expected a value or a non-empty list of values, got []")
        repeated = [v for i, v in enumerate(value) if v in value[:i]]
        if repeated:
            raise ValueError(f"the list gives {repeated[0]!r} twice")
        return value
    return [value]


def _entry(entry, number: int, config: dict, base: Path) -> list[tuple[TaskSpec, float, int, int]]:
    """The (spec, sigma_y, steps, samples) combinations of the ``number``-th ``[[tasks]]`` table."""
    where = f"tasks #{number}"
    if not isinstance(entry, dict):
        raise JobFileError(f"{where}: expected a [[tasks]] table, got {entry!r}")
    if "task" not in entry:
        raise JobFileError(f"{where}: missing 'task' (one of {', '.join(TASKS)})")
    task = entry["task"]
    if task not in DEGRADATIONS:
        raise JobFileError(f"{where}: task: expected one of {', '.join(TASKS)}, got {task!r}")
    settings = {s.name: s for s in DEGRADATIONS[task].settings}
    checks = {"sigma_y": _sigma, "steps": JOB_KEYS["steps"][0], "samples": JOB_KEYS["samples"][0]}
    values: dict[str, list] = {}
    for key, value in entry.items():
        if key == "task":
            continue
        if key not in checks and key not in settings:
            raise JobFileError(f"{where}: unknown key {key!r} for task {task}; expected some of "
                               f"{sorted([*checks, *settings])}")
        try:
            check = checks.get(key) or (lambda v, s=settings.get(key): _setting(s, v, base))
            values[key] = [check(v) for v in _choices(key, value)]
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            raise JobFileError(f"{where}: {key}: {exc}") from None
    keys = list(values)
    combos = []
    for combo in itertools.product(*(values[k] for k in keys)):
        chosen = dict(zip(keys, combo))
        try:
            spec = TaskSpec(task, {k: v for k, v in chosen.items() if k in settings})
        except ValueError as exc:
            raise JobFileError(f"{where}: {exc}") from None
        combos.append((spec, chosen.get("sigma_y", 0.0), chosen.get("steps", config["steps"]),
                       chosen.get("samples", config["samples"])))
    return combos


def _inputs(value, base: Path) -> list[Path]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise JobFileError(f"inputs: expected a non-empty list of files or glob patterns, got {value!r}")
    files: list[Path] = []
    for pattern in value:
        matches = sorted(glob.glob(str(base / pattern))) if any(c in pattern for c in "*?[") else [str(base / pattern)]
        if not matches:
            raise JobFileError(f"inputs: {pattern!r} matches no file")
        files.extend(Path(m) for m in matches)
    stems = [f.stem for f in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise JobFileError(f"inputs: several files share the name(s) {', '.join(clashes)}; outputs would clash")
    return files


def _out(value: str, base: Path, allow_outside: bool) -> Path:
    out = base / value
    if not allow_outside and not out.resolve().is_relative_to(base.resolve()):
        raise JobFileError(f"out: {value!r} is outside the job file's folder {base}; pass --allow-outside to "
                           "write there")
    return out


def _parse(path: Path, allow_outside: bool) -> Job:
    try:
        config = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such job file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise JobFileError(f"not valid TOML ({exc})") from None
    unknown = sorted(set(config) - set(JOB_KEYS))
    if unknown:
        raise JobFileError(f"unknown key(s) {', '.join(unknown)}; expected some of {sorted(JOB_KEYS)}")
    checked = {}
    for key, (check, default) in JOB_KEYS.items():
        if check is not None:
            try:
                checked[key] = check(config[key]) if key in config else default
            except ValueError as exc:
                raise JobFileError(f"{key}: {exc}") from None
    base = path.parent
    files = _inputs(config.get("inputs"), base)
    tasks = _tasks(config.get("tasks"))
    items = []
    for number, entry in enumerate(tasks, 1):
        for spec, sigma_y, steps, samples in _entry(entry, number, checked, base):
            for file in files:
                probe = Item("", file, spec, sigma_y, steps, samples, 0)
                item_id = f"{probe.folder}/{file.stem}"
                items.append(Item(item_id, file, spec, sigma_y, steps, samples,
                                  derive_seed(checked["seed"], item_id) % 2**31))
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise JobFileError("tasks: two entries give the same item; remove the duplicate settings")
    return Job(path, checked["prior"], _out(checked["out"], base, allow_outside), items, checked["threads"],
               checked["device"], checked["dtype"])


def load_job(path: str | Path, allow_outside: bool = False) -> Job:
    """Parse and check a job file; ``JobFileError`` (a ValueError) names the file and the key."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a job file")
    try:
        return _parse(path, allow_outside)
    except JobFileError as exc:
        raise JobFileError(f"{path}: {exc}") from None
