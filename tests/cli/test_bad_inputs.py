"""Bad input to every subcommand and to the job file: one line on stderr, exit code 2, nothing written,
inputs untouched. The cases are those of ``benchmarks/reliability.py`` (which runs them in child
processes for RESULTS.md); here they run in this process. Property-based cases draw option values
and job-file values with hypothesis."""

import contextlib
import io
import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from projdiff.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import reliability  # noqa: E402


def run_in_process(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # --help and --version only
            code = exc.code
    return code, err.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return reliability.Workspace(tmp_path_factory.mktemp("reliability"))


@pytest.mark.parametrize("case", reliability.CASES, ids=lambda c: f"{c.interface}: {c.name}")
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, workspace, tmp_path):
    result, stderr = reliability.run_case(case, workspace, tmp_path / "case", run_in_process)
    assert result == "ok", stderr


def test_the_catalogue_covers_every_subcommand():
    from projdiff.cli import build_parser

    covered = {case.interface for case in reliability.CASES}
    assert set(build_parser().subcommands) <= covered


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                    st.sampled_from(["1e30", "-0", "abc", "", "0x10"]))
OPTIONS = {"--sigma-y": "sr4", "--step-size": "sr4", "--blur-sigma": "deblur", "--motion": "deblur",
           "--fraction": "inpaint", "--box": "inpaint", "--oversampling": "phase", "--gain": "hdr", "--ratio": "cs",
           "--samples": "denoise", "--steps": "denoise", "--seed": "denoise"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(OPTIONS)), value=NUMBERS)
def test_any_option_value_restores_or_is_refused_in_one_line(option, value, workspace, tmp_path_factory):
    """Whatever the value: exit 0 with the four outputs at the input's size, or exit 2, one line, nothing written."""
    from projdiff.apps.restoration.image_io import read_image

    if option in ("--steps", "--samples"):  # valid but slow: a million steps would run for hours
        assume(not isinstance(value, int) or not 8 < value <= 10**5)
    out = tmp_path_factory.mktemp("out") / "out"
    text = str(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    argv = ["restore", workspace.paths["image"], "--task", OPTIONS[option], "--prior", workspace.paths["prior"],
            "--steps", "1", "--out", str(out), "--quiet", f"{option}={text}"]
    if option == "--steps" or option == "--samples":
        argv[argv.index("--steps") : argv.index("--steps") + 2] = []
    code, stderr = run_in_process(argv)
    assert "Traceback" not in stderr and code in (0, 2), stderr
    if code == 2:
        assert stderr.count("\n") == 1 and ": error: " in stderr
        assert not out.exists() or not any(p for p in out.iterdir() if not p.name.startswith("."))
    else:
        assert read_image(out / "image_restored.png").shape == (1, 32, 32)


TOML_VALUES = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                        st.text(max_size=8), st.lists(st.integers(-3, 5), max_size=5), st.just([]))
JOB_KEYS = ("seed", "steps", "samples", "threads", "pad", "device", "dtype", "prior", "out")
TASK_KEYS = ("sigma_y", "steps", "samples", "fraction", "box", "blur_sigma", "motion")


def _toml(value) -> str:
    """``value`` written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\' else c
                             for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(JOB_KEYS + TASK_KEYS), value=TOML_VALUES)
def test_a_job_file_value_is_accepted_or_refused_naming_its_key(key, value, tmp_path_factory):
    """The schema never coerces silently and never fails without naming the key."""
    from projdiff.apps.restoration.job_file import JobFileError, load_job

    folder = tmp_path_factory.mktemp("job")
    (folder / "a.png").write_bytes(b"")  # inputs are only listed at this point, not read
    task = "deblur" if key in ("blur_sigma", "motion") else "inpaint" if key in ("fraction", "box") else "sr4"
    top, entry = (f"{key} = {_toml(value)}\n", "") if key in JOB_KEYS else ("", f"{key} = {_toml(value)}\n")
    (folder / "job.toml").write_text(f'inputs = ["a.png"]\n{top}[[tasks]]\ntask = "{task}"\n{entry}')
    try:
        job = load_job(folder / "job.toml")
    except JobFileError as exc:
        assert f"{key}:" in str(exc) or f"--{key.replace('_', '-')}" in str(exc), str(exc)
        return
    for item in job.items:  # accepted: the values are exactly what was written, never coerced
        if key in ("steps", "samples") and key in TASK_KEYS and entry:
            assert getattr(item, key) == value and not isinstance(value, bool)
    if key in ("seed", "threads"):
        assert isinstance(value, int) and not isinstance(value, bool)
    if key == "pad":
        assert isinstance(value, bool)


AUDIO_OPTIONS = {  # option: (command, the argv without the option)
    "--sigma-y": "separate", "--steps": "separate", "--seed": "separate", "--init-sigma": "separate",
    "--components": "fit-nmf", "--iterations": "fit-nmf", "--part-mb": "data chorales",
}


def _audio_argv(command: str, paths: dict, out) -> list[str]:
    if command == "separate":
        return ["separate", paths["mix"], "--prior", paths["audio_prior"], "--init", "nmf", "--nmf", paths["nmf"],
                "--out", str(out), "--quiet"]
    if command == "fit-nmf":
        return ["fit-nmf", "--stems", paths["stems"], "--out", str(out / "nmf.safetensors"), "--quiet"]
    return ["data", "chorales", "--out", paths["folder"] + "/never", "--soundfont", str(out / "none.sf2"), "--archive",
            str(out / "archive")]  # a valid --part-mb reaches the (missing) soundfont: refused before any work


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(AUDIO_OPTIONS)), value=NUMBERS)
def test_any_audio_option_value_runs_or_is_refused_in_one_line(option, value, workspace, tmp_path_factory):
    """separate, fit-nmf and data chorales: exit 0 with every output, or exit 2, one line, nothing written."""
    command = AUDIO_OPTIONS[option]
    if option in ("--steps", "--components", "--iterations"):  # valid but slow
        assume(not isinstance(value, int) or not 8 < value <= 10**5)
    out = tmp_path_factory.mktemp("out") / "out"
    text = str(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    argv = _audio_argv(command, workspace.paths, out)
    argv += ["--steps", "1"] if command == "separate" and option != "--steps" else []
    argv += ["--components", "2", "--iterations", "2"] if command == "fit-nmf" else []
    code, stderr = run_in_process(argv + [f"{option}={text}"])
    assert "Traceback" not in stderr and code in (0, 2), stderr
    if code == 2:
        assert stderr.count("\n") == 1 and ": error: " in stderr
        assert not out.exists() or not any(out.iterdir())
        assert not (Path(workspace.paths["folder"]) / "never").exists()
    elif command == "separate":
        assert sorted(p.name for p in out.glob("*.wav")) == [f"mix_{s}.wav" for s in ("alto", "bass", "soprano",
                                                                                      "tenor")]
    else:
        assert command == "fit-nmf" and (out / "nmf.safetensors").is_file()
