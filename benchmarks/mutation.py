"""Mutation testing of the core with mutmut: which one-line bugs would the fast tests let through?

For each group (a set of modules and the fast tests that guard them) the tracked files are copied
to ``runs/mutation/<group>``, a ``[tool.mutmut]`` section naming the modules and tests is appended
to the copy's ``pyproject.toml`` (the project's own stays free of it), and ``mutmut run`` is called
there with one child process. The table gives killed / total per module; survivors are listed with
their diff, and the ones ``EQUIVALENT`` recognises (same results as the original, with a reason)
are left out of the score.

Run: ``python benchmarks/mutation.py --group sampler [--group priors ...] [--write]`` (needs the
``bench`` extra: mutmut); ``--group core --sample 0.2`` runs a fifth of every core module's mutants. One process; each group takes from a few minutes (files) to about half an hour (sampler)
on one busy core; ``--timeout`` stops a group and reports what was checked.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import commit, emit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "mutation"

# group -> (modules to mutate, fast tests that guard them). The slowest engine tests (a learned prior's
# PiGDM run, a nonlinear Gauss-Newton solve, the memory check: 40 s of 66) are left out of the selection.
SLOW = ["--deselect", "tests/engine/test_baselines.py::test_pigdm_stays_finite_with_a_learned_prior",
        "--deselect", "tests/engine/test_engine_operators.py::test_user_nonlinear_operator_gets_a_gauss_newton_projection",
        "--deselect", "tests/engine/test_engine.py::test_memory_does_not_grow_with_steps"]
GROUPS = {
    "sampler": (["projdiff/engine/projdiff_sampler.py", "projdiff/engine/observation.py",
                 "projdiff/engine/schedules.py", "projdiff/engine/noise.py"],
                ["tests/engine/test_schedules.py", "tests/engine/test_reference_loops.py", "tests/engine/test_engine.py",
                 "tests/engine/test_engine_operators.py", *SLOW]),
    "baselines": (["projdiff/engine/ancestral.py", "projdiff/engine/ddnm.py", "projdiff/engine/diffpir.py",
                   "projdiff/engine/dps.py", "projdiff/engine/pigdm.py"],
                  ["tests/engine/test_baseline_reference_loops.py", "tests/engine/test_baselines.py", *SLOW]),
    "solve": (["projdiff/engine/solve.py"], ["tests/engine/test_engine.py", "tests/engine/test_baselines.py", *SLOW]),
    "priors": (["projdiff/priors/covariance.py", "projdiff/priors/posterior.py", "projdiff/priors/gaussian.py"],
               ["tests/priors/test_priors_analytic.py"]),
    "files": (["projdiff/utils/files.py"], ["tests/utils/test_files.py"]),
}
# The core named by the tests issue, in two groups so that each mutant runs only the tests that can see it:
# the engine, the operators and the priors with their tests; the atomic writer, the job store, CT geometry and
# the audio metrics with theirs (the bundled chorale separation, 47 s, guards the audio prior, not the metrics).
GROUPS["core"] = (
    ["projdiff/engine/*.py", "projdiff/operators/*.py", "projdiff/priors/*.py"],
    ["tests/engine", "tests/operators", "tests/priors", "tests/testing", *SLOW])
GROUPS["core-apps"] = (
    ["projdiff/utils/files.py", "projdiff/apps/restoration/job_store.py", "projdiff/apps/tumor/ct/grid.py",
     "projdiff/apps/tumor/ct/dicom.py", "projdiff/apps/tumor/ct/nifti.py", "projdiff/apps/tumor/ct/volume.py",
     "projdiff/apps/audio/metrics.py"],
    ["tests/utils/test_files.py", "tests/apps/restoration/test_jobs.py", "tests/apps/tumor/test_ct_io.py",
     "tests/apps/audio/test_audio.py",
     "--deselect", "tests/apps/audio/test_audio.py::test_bundled_chorales_prior_separates_a_held_out_excerpt"])

# Statuses that count as a detected mutant: a failing test, a test run past mutmut's CPU limit, a crash.
DETECTED = ("killed", "timeout", "segfault", "caught by type check")

# Mutants that cannot change a result, recognised by their change (``old => new``), with the reason.
EQUIVALENT = [
    (r"progress: bool = False\) -> torch\.Tensor: => .*progress: bool = True\) -> torch\.Tensor:",
     "default of `progress` (whether a progress bar is drawn on stderr); `solve` always passes it"),
    (r"^progress: bool = False, => progress: bool = True,$",
     "default of `progress` (whether a progress bar is drawn on stderr); `solve` always passes it"),
    (r"levels\(sigmas, progress, \"\w+\"\).* => .*levels\(sigmas, progress, (None|\"\w+\")\)",
     "the progress bar's label"),
    (r"levels\(sigmas, progress, \"\w+\"\).* => .*levels\(sigmas, None, \"\w+\"\)",
     "`progress=None` disables the bar like `False`; only the bar changes when `True`"),
    (r'desc="projdiff", unit="step"\) => .*(desc=|unit=)',
     "the progress bar's label or unit"),
    (r'noise_column\("output"\) => .*noise_column\((None|"XXoutputXX"|"OUTPUT")\)',
     "`Problem.noise_column` takes every value but \"input\" as the output space"),
    (r"reshape\(1, -1, \*\(\[1\] \* \(zero\.dim\(\) - 2\)\)\) > 0 => .*reshape\(-1, \*\(\[1\] \* \(zero\.dim\(\) - 2\)\)\) > 0",
     "a leading axis of size 1 does not change broadcasting, the only use of `noisy`"),
    (r"if bool\(\(rho > 0\)\.any\(\)\) else op\.project\(x0, y\) => .*if (\(bool\(\(rho > 0\)\.any\(\)\)\) or True|bool\(\(rho >= 0\)\.any\(\)\))",
     "with rho = 0, `prox` is the projection by the operator contract (`gram_solve` with shift 0 is the "
     "pseudo-inverse)"),
    (r"self\._output_shape = .+ => self\._output_shape = None$",
     "`Operator.output_shape` finds the same shape by one forward pass when a subclass leaves it unset"),
    (r"torch\.linalg\.svd\((.+), full_matrices=True\) => .*torch\.linalg\.svd\(\1, ?\)",
     "`full_matrices=True` is `torch.linalg.svd`'s default"),
    (r"np\.load\(path, allow_pickle=False\) => .*np\.load\(path, (allow_pickle=None)?\)",
     "numpy's `allow_pickle` defaults to False and treats None as False: pickles stay refused"),
    (r"torch\.tensor\(indices, dtype=torch\.long\)\) => .*torch\.tensor\(indices, \)\)",
     "a list of Python ints becomes an int64 (long) tensor by default"),
    (r"torch\.load\((.+), weights_only=True\) => .*torch\.load\(\1, (weights_only=None)?\)",
     "torch 2.6+ loads with `weights_only=True` by default and treats None as the default"),
    (r"1 / torch\.where\(head > 0, head, torch\.ones_like\(head\)\).* => .*1 / torch\.where\(head >= 0, head",
     "the inner `where` only keeps 1 / 0 out of the division; the outer one sets every mode with s = 0 to 0"),
    (r"disable=not progress, desc=\w+, unit=\"step\"\)(:)? => .*(desc=None|unit=|desc=\w+, \))",
     "the progress bar's label or unit"),
    (r"for k, c in enumerate\(self\.covs\)\], dim=-1\) => .*dim=\+1\)",
     "the stacked log-densities are 1-D, shape (N,): axes 1 and -1 of the stack are the same"),
    (r"^(?=.*(device=[\w.]*device|\.to\([\w.]*device\)|_device\(\)).* => )"
     r"(?!.* => .*(device=[\w.]*device|\.to\([\w.]*device\)|_device\(\)))",
     "equivalent on this CPU-only machine: drops a device placement (tensors default to the CPU); on a GPU it "
     "would be a real bug, which only a test run with a GPU can catch"),
    (r"\(\(v\*\*2\)\.sum\(-1\).* => .*\(\(v\*\*2\)\.sum\(\+1\)",
     "`v` has shape (N, D): axes 1 and -1 are the same"),
    (r"quad, logdet = \(coef\*\*2 / lam\)\.sum\(-1\).* => .*\(coef\*\*2 / lam\)\.sum\(\+1\)",
     "`coef` has shape (N, r): axes 1 and -1 are the same"),
    (r"return cls\(flat\.reshape\(draw_shape\)\.expand\(shape\), shape\) => .*, None\)",
     "the mask is expanded to `shape`, and `Inpainting` takes the mask's shape when `input_shape` is None"),
    (r"x\[\.\.\., 2:3, :, :\] => .*x\[\.\.\., 2:4, :, :\]",
     "an RGB input has 3 channels: slices 2:3 and 2:4 are the same"),
    (r"half = size \* math\.sqrt\(2\) / 2 \+ 1.* => .*half = size \* math\.sqrt\(2\) \* 2 \+ 1",
     "longer rays: the added samples lie outside the image and its bilinear margin, with zero weight"),
    (r"steps = 2 \* math\.ceil\(half / RAY_STEP\) \+ 1 => .*steps = 2 \* math\.ceil\(half / RAY_STEP\) - 1",
     "drops the two end samples of each ray, which lie beyond the image's bilinear margin (zero weight)"),
    (r"angles\.cos\(\)\], dim=-1\) => .*angles\.cos\(\)\], dim=\+1\)",
     "the concatenated tensors are 2-D: axes 1 and -1 are the same"),
    (r"F\.layer_norm\(x, x\.shape\[-1:\], self\.g, None, eps=1e-5\) => .*self\.g, eps=1e-5\)",
     "`F.layer_norm`'s bias defaults to None"),
    (r"load_state_dict\((\w+), strict=True\) => .*load_state_dict\(\1, \)",
     "`strict=True` is `load_state_dict`'s default"),
    (r"return cls\(mask, shape\) => return cls\(mask, None\)",
     "the box mask is built with `shape`, and `Inpainting` takes the mask's shape when `input_shape` is None"),
    (r"work\(torch\.zeros\(\(1, \*operator\.input_shape\).* => .*work\(torch\.zeros\(\(2, \*operator\.input_shape\)",
     "a probe that only asks whether the operator runs in float64: its batch size does not matter"),
    (r"torch\.as_tensor\((cov|mean), dtype=torch\.float64\) => .*torch\.as_tensor\(\1, \)",
     "float32 values promote exactly to float64 where they are used (`Covariance` converts, the denoiser computes "
     "in float64)"),
    (r'^residual = None => residual = ""$',
     "the first level is never over-relaxed (it is above 0.075 times itself), so the loop sets `residual = None` "
     "before any use"),
    (r'f"image_size=\{self\.input_shape\[-1\]\}.* => .*f"image_size=\{self\.input_shape\[-2\]\}',
     "a CT slice is square (`input_shape` (1, n, n)): its last two sizes are equal"),
    (r"json\.dumps\(config, indent=2\).* => .*json\.dumps\(config, indent=3\)",
     "the indentation of a JSON file that is only read back with `json`"),
]


def undecorate(path: Path) -> None:
    """Move ``@torch.no_grad()`` off module-level functions (``f = torch.no_grad()(f)`` at the end instead).

    mutmut leaves decorated functions unmutated (other than classmethod and staticmethod); the samplers
    carry this decorator, and the copy behaves the same without it in the ``def`` line.
    """
    text = path.read_text()
    lines = text.splitlines()
    names = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and [ast.unparse(d) for d in node.decorator_list] == ["torch.no_grad()"]:
            lines[node.decorator_list[0].lineno - 1] = ""
            names.append(node.name)
    if names:
        lines += ["", *[f"{name} = torch.no_grad()({name})" for name in names]]
        path.write_text("\n".join(lines) + "\n")


def prepare(group: str, tag: str = "") -> Path:
    """A copy of the tracked (and untracked, not ignored) files with the group's mutmut section."""
    modules, tests = GROUPS[group]
    folder = WORK / f"{group}{tag}"
    shutil.rmtree(folder, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    (folder / "RUN.txt").write_text(f"copied from commit {commit()} at "
                                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    for pattern in modules:
        for path in folder.glob(pattern):
            if path.suffix == ".py":
                undecorate(path)
    quoted = lambda items: "[" + ", ".join(f'"{i}"' for i in items) + "]"  # noqa: E731
    with open(folder / "pyproject.toml", "a") as f:
        f.write(f"""
[tool.mutmut]
source_paths = ["projdiff/"]
only_mutate = {quoted(modules)}
pytest_add_cli_args_test_selection = {quoted(tests)}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
process_isolation = "forkserver"
use_git_change_detection = false
""")
    return folder


def mutmut(folder: Path, *args: str, timeout: float | None = None) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return done.stdout


def statuses(folder: Path) -> dict[str, str]:
    out = mutmut(folder, "results", "--all", "true")
    return dict(re.findall(r"^\s+(\S+): (.+)$", out, flags=re.M))


def module_of(name: str) -> str:
    """``projdiff.engine.dps.x_sample_dps__mutmut_3`` -> ``projdiff/engine/dps.py``."""
    parts = name.split(".")
    index = next(i for i, p in enumerate(parts) if p.startswith(("x_", "x\u01c1")))
    return "/".join(parts[:index]) + ".py"


DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
out = {}
for name in sys.argv[1:]:
    lines = get_diff_for_mutant(name, path=find_mutant(name).path).splitlines()
    out[name] = " => ".join(l[1:].strip() for l in lines if l[:1] in "+-" and not l.startswith(("+++", "---")))
print(json.dumps(out))
"""


FULL_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name, path=find_mutant(name).path) for name in sys.argv[1:]}))
"""


def apply_mutant(folder: Path, name: str, diff: str) -> None:
    """Write mutant ``name`` into the copy's source, replacing exactly its function or method.

    (``mutmut apply`` puts a method's mutant into the first function of that name in the module, which
    is the wrong one when several classes define it.) ``diff`` is mutmut's diff of the function's text.
    """
    path = folder / module_of(name)
    lines = path.read_text().split("\n")
    owner = name.split(".")[-1].split("__mutmut_")[0]
    parts = owner[2:].split("\u01c1") if owner.startswith("x\u01c1") else [owner[2:]]
    nodes = ast.parse(path.read_text()).body
    for part in parts:
        node = next(n for n in nodes if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part)
        nodes = node.body
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    span = lines[start : node.end_lineno]
    hunks = re.split(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@.*$", diff, flags=re.M)[1:]
    for first, body in zip(hunks[::2], hunks[1::2]):
        at, removed, added = int(first) - 1, [], []
        for line in (line for line in body.split("\n")[1:] if line[:1] in (" ", "-", "+")):
            if line[0] == "+":
                added.append(line[1:].strip())
                continue
            if at >= len(span) or span[at].strip() != line[1:].strip():
                raise RuntimeError(f"{name}: the function in {path} is not the one the mutant was made from")
            if line[0] == "-":
                removed.append(at)
            at += 1
        if len(removed) != len(added):
            raise RuntimeError(f"{name}: a mutant that changes the number of lines")
        for index, text in zip(removed, added):  # keep each line's own indentation (docstrings keep theirs)
            span[index] = span[index][: len(span[index]) - len(span[index].lstrip())] + text
    lines[start : node.end_lineno] = span
    path.write_text("\n".join(lines))


def diff_lines(folder: Path, names: list[str]) -> dict[str, str]:
    """The mutated line(s) of each mutant, as ``old => new`` (one process for all of them)."""
    if not names:
        return {}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", DIFFS, *names], cwd=folder, env=env, capture_output=True,
                          text=True, check=True)
    return {name: diff[:200] for name, diff in json.loads(done.stdout.splitlines()[-1]).items()}


def stratified_sample(names: list[str], fraction: float, seed: int) -> list[str]:
    """The same share of every module's mutants (at least one each), drawn without replacement.

    Equal shares make the sample self-weighting: killed / run over the sample estimates the score of
    all the mutants of the group.
    """
    by_module: dict[str, list[str]] = {}
    for name in sorted(names):
        by_module.setdefault(module_of(name), []).append(name)
    rng = random.Random(seed)
    return [name for module in sorted(by_module) for name in
            rng.sample(by_module[module], max(1, math.ceil(fraction * len(by_module[module]))))]


def run_group(group: str, timeout: float | None, sample: float | None = None, seed: int = 0,
              children: int = 1, tag: str = "") -> tuple[dict[str, str], Path, float]:
    folder = prepare(group, tag)
    start = time.time()
    chosen: list[str] = []
    if sample is not None:
        # A name that matches nothing: mutmut makes the mutants and the test-to-function map, then stops.
        mutmut(folder, "run", "--max-children", str(children), "no.such.mutant")
        chosen = stratified_sample(list(statuses(folder)), sample, seed)
        (folder / "SAMPLE.txt").write_text(f"{len(chosen)} mutants, share {sample} of each module, seed {seed}\n")
    try:
        mutmut(folder, "run", "--max-children", str(children), *chosen, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{group}: stopped after {timeout} s; results so far", file=sys.stderr)
    return statuses(folder), folder, time.time() - start


def equivalence(change: str) -> str | None:
    return next((why for pattern, why in EQUIVALENT if re.search(pattern, change)), None)


def report(results: dict[str, tuple[dict[str, str], Path, float]], rechecked: dict[str, bool] | None = None) -> str:
    rechecked = rechecked or {}
    rows, survivors, equivalents = [], [], []
    total = Counter()
    for group, (status, folder, seconds) in results.items():
        live = [name for name, state in status.items() if state not in DETECTED and state != "not checked"]
        diffs = diff_lines(folder, live)
        by_module: dict[str, Counter] = {}
        for name, state in status.items():
            counts = by_module.setdefault(module_of(name), Counter())
            state = "killed" if state in DETECTED else state
            counts[state] += 1
            if name in diffs:
                why = equivalence(diffs[name])
                if why:
                    counts["equivalent"] += 1
                    equivalents.append((name, diffs[name], why))
                else:
                    counts["live"] += 1
                    survivors.append((name, state, diffs[name]))
        for module, c in sorted(by_module.items()):
            n = sum(v for k, v in c.items() if k not in ("live", "equivalent"))
            checked = n - c["not checked"]
            score = c["killed"] / max(1, checked - c["equivalent"])
            rows.append(f"| {module} | {n} | {checked} | {c['killed']} | {c['equivalent']} | {c['live']} | "
                        f"{c['not checked']} | {100 * score:.1f}% |")
            total.update(c)
        run = (folder / "RUN.txt").read_text().strip() if (folder / "RUN.txt").exists() else "copy of unknown commit"
        if (folder / "SAMPLE.txt").exists():
            run += "; sample: " + (folder / "SAMPLE.txt").read_text().strip()
        timing = f"{seconds / 60:.0f} min, " if seconds == seconds else ""
        rows.append(f"| *{group} group ({timing}{run})* | | | | | | | |")
    n = sum(v for k, v in total.items() if k not in ("live", "equivalent"))
    checked = n - total["not checked"]
    score = total["killed"] / max(1, checked - total["equivalent"])
    low, high = wilson(total["killed"], checked - total["equivalent"])
    cell = lambda text: text.replace("|", "/")  # noqa: E731
    lines = ["mutmut 3.8.1, default mutation operators; tests per group as in "
             "`benchmarks/mutation.py` (`GROUPS`). Score = killed / (mutants run - equivalent); "
             "killed includes mutmut's 'timeout' (a mutant that makes the tests run past its CPU limit). "
             "'no tests' (no selected test calls the function) counts as surviving; "
             "'not checked': mutmut did not run it (not in the sample, or the group's time limit came first; "
             "mutmut runs the mutants whose tests are quickest first). With a sample (the same share of every "
             "module's mutants, so it weighs modules as the whole does), the score of the mutants run estimates "
             "the score of all of them; the interval is Wilson's 95% interval.", "",
             "| module | mutants | run | killed | equivalent | surviving | not checked | score |",
             "|---|---|---|---|---|---|---|---|",
             *rows, f"| **all** | {n} | {checked} | {total['killed']} | {total['equivalent']} | {total['live']} | "
                    f"{total['not checked']} | **{100 * score:.1f}%** |", "",
             f"Score of the mutants run: {100 * score:.1f}% (95% interval {100 * low:.1f}-{100 * high:.1f}%).", ""]
    if rechecked:
        later = sum(rechecked.get(name) is True for name, _, _ in survivors)
        moved = sum(name in rechecked and rechecked[name] is None for name, _, _ in survivors)
        low, high = wilson(total["killed"] + later, checked - total["equivalent"])
        lines += [f"Re-checked with the tests at commit {commit()} (`--recheck`): {later} of the {len(survivors)} "
                  f"surviving mutants are killed ({moved} not re-checked: their module changed since the run, or the "
                  f"mutant could not be written back); with "
                  f"them the score of the mutants run is "
                  f"**{100 * (total['killed'] + later) / max(1, checked - total['equivalent']):.1f}%** "
                  f"(95% interval {100 * low:.1f}-{100 * high:.1f}%).", ""]
    if survivors:
        lines += ["### Surviving mutants", "", "| mutant | status | change (old => new) | killed on re-check |",
                  "|---|---|---|---|"]
        lines += [f"| `{name}` | {state} | `{cell(change)}` | "
                  f"{ {True: 'yes', False: 'no', None: 'not re-checked'}.get(rechecked.get(name, '-'), '-')} |"
                  for name, state, change in survivors]
    if equivalents:
        lines += ["", "### Equivalent mutants", "", "| mutant | change | why it cannot change a result |",
                  "|---|---|---|"]
        lines += [f"| `{name}` | `{cell(change)}` | {why} |" for name, change, why in equivalents]
    return "\n".join(lines) + "\n"


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _undecorated(path: Path) -> str:
    """The text ``prepare`` leaves in a copy of the module at ``path`` (see ``undecorate``)."""
    scratch = WORK / "scratch.py"
    shutil.copy2(path, scratch)
    undecorate(scratch)
    text = scratch.read_text()
    scratch.unlink()
    return text


def recheck(group: str, names: list[str], tag: str = "") -> dict[str, bool | None]:
    """Whether the tests as they are now kill each named survivor of an earlier run of ``group``.

    The copy's package and tests are replaced by the current ones. A survivor whose module has
    changed since the run is not re-checked (``None``: its mutant no longer describes the code).
    Each other survivor is written into the copy (``apply_mutant``) and every test file that is new
    or changed since the run is run on it (``-x``; the unchanged tests already let it through). The
    new or changed files first run once on the unmutated copy and must pass.
    """
    folder = WORK / f"{group}{tag}"
    current = {m: _undecorated(ROOT / m) for m in {module_of(n) for n in names}}
    unchanged = {m for m, text in current.items() if (folder / m).read_text() == text}
    copied = re.match(r"copied from commit (\w+) at", (folder / "RUN.txt").read_text())
    if copied:  # the copy's tests are those of that commit (a re-check replaces them)
        changed = subprocess.run(["git", "diff", "--name-only", copied.group(1), "--", "tests"], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
        new_tests = sorted(name for name in changed if Path(name).name.startswith("test_") and (ROOT / name).exists())
    else:
        new_tests = sorted(str(t.relative_to(ROOT)) for t in (ROOT / "tests").rglob("test_*.py")
                           if not (folder / t.relative_to(ROOT)).exists()
                           or (folder / t.relative_to(ROOT)).read_bytes() != t.read_bytes())
    for sub in ("projdiff", "tests"):
        shutil.rmtree(folder / sub)
        shutil.copytree(ROOT / sub, folder / sub, ignore=shutil.ignore_patterns("__pycache__"))
    for module, text in current.items():
        (folder / module).write_text(text)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(folder)}
    pytest = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    if new_tests:
        clean = subprocess.run([*pytest, *new_tests], cwd=folder, env=env, capture_output=True, text=True)
        if clean.returncode != 0:
            raise SystemExit(f"recheck: the new or changed tests fail without a mutant:\n{clean.stdout[-2000:]}")
    done = subprocess.run([sys.executable, "-c", FULL_DIFFS, *names], cwd=folder, env=env, capture_output=True,
                          text=True, check=True)
    diffs = json.loads(done.stdout.splitlines()[-1])
    killed: dict[str, bool | None] = {}
    for name in names:
        module = module_of(name)
        if module not in unchanged or not new_tests:
            killed[name] = None if module not in unchanged else False
            continue
        source = folder / module
        original = source.read_text()
        try:
            try:
                apply_mutant(folder, name, diffs[name])
            except RuntimeError as exc:
                print(f"{exc}: not re-checked", file=sys.stderr, flush=True)
                killed[name] = None
                continue
            done = subprocess.run([*pytest, *new_tests], cwd=folder, env=env, capture_output=True, text=True)
            killed[name] = done.returncode != 0
        finally:
            source.write_text(original)
        print(f"{name}: {'killed' if killed[name] else 'survives'}", file=sys.stderr, flush=True)
    return killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", action="append", choices=sorted(GROUPS), help="default: core and core-apps")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per group")
    parser.add_argument("--sample", type=float, default=None,
                        help="run this share (0-1] of every module's mutants, drawn at random (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--children", type=int, default=1, help="mutmut child processes (default 1)")
    parser.add_argument("--tag", default="", help="suffix of the run folders, runs/mutation/GROUP<TAG> (default none)")
    parser.add_argument("--report-only", action="store_true",
                        help="report the results already in runs/mutation/GROUP instead of running mutmut")
    parser.add_argument("--recheck", action="store_true",
                        help="with the results in runs/mutation/GROUP: run the current tests against each survivor")
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.sample is not None and not 0 < args.sample <= 1:
        parser.error(f"--sample: expected a share in (0, 1], got {args.sample}")
    if args.children < 1:
        parser.error(f"--children: expected an int >= 1, got {args.children}")
    groups = args.group or ["core", "core-apps"]
    if args.report_only or args.recheck:
        results = {g: (statuses(WORK / f"{g}{args.tag}"), WORK / f"{g}{args.tag}", float("nan")) for g in groups}
    else:
        results = {g: run_group(g, args.timeout, args.sample, args.seed, args.children, args.tag) for g in groups}
    rechecked = {}
    if args.recheck:
        for g in groups:
            live = [n for n, state in results[g][0].items() if state not in DETECTED and state != "not checked"]
            changes = diff_lines(WORK / f"{g}{args.tag}", live)
            rechecked.update(recheck(g, [n for n in live if not equivalence(changes[n])], args.tag))
    emit(args.write, "mutation", "Mutation testing of the core (tests issue)", report(results, rechecked))


if __name__ == "__main__":
    main()
