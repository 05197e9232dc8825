"""The command line: outputs, exit codes, one-line errors, nothing half-written, jobs that resume."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from projdiff.cli import main

DEMO = Path(__file__).resolve().parents[2] / "projdiff" / "bundled" / "demo"


@pytest.fixture()
def image(tmp_path):
    shutil.copy(DEMO / "bag.png", tmp_path / "bag.png")
    return tmp_path / "bag.png"


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_restore_writes_the_four_named_outputs(image, tiny_prior_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["restore", image, "--task", "sr4", "--sigma-y", "0.05", "--prior", tiny_prior_dir,
                        "--steps", 3, "--samples", 2, "--out", out, "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "bag_grid.png", "bag_measurement.png", "bag_metrics.json", "bag_restored.png"]
    metrics = json.loads((out / "bag_metrics.json").read_text())
    assert metrics["nfe"] == 4 and metrics["samples"] == 2 and "psnr" in metrics


@pytest.mark.parametrize("extra, message", [
    (["--task", "sr5"], "--task: expected one of"),
    (["--task", "sr4", "--fraction", "0.3"], "--fraction: not a setting of task sr4"),
    (["--task", "inpaint", "--mask", "missing.png"], "missing.png: no such file"),
    (["--task", "sr4", "--prior", "bundled:nothing"], "no bundled prior 'nothing'"),
    (["--task", "sr4", "--sigma-y", "-1"], "sigma_y: expected a finite value >= 0"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(image, tiny_prior_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    args = ["restore", image, "--out", out, "--steps", 2, "--quiet"]
    args += extra if "--prior" in extra else extra + ["--prior", tiny_prior_dir]
    code, _, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_image_and_existing_outputs(image, tiny_prior_dir, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, _, err = run(["restore", bad, "--task", "sr4", "--prior", tiny_prior_dir, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "broken.png: cannot read image" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    args = ["restore", image, "--task", "denoise", "--prior", tiny_prior_dir, "--steps", 2, "--out", tmp_path / "o",
            "--quiet"]
    assert run(args, capsys)[0] == 0
    before = (tmp_path / "o" / "bag_restored.png").read_bytes()
    code, _, err = run(args + ["--seed", 5], capsys)
    assert code == 2 and "exists; pass --overwrite" in err
    assert (tmp_path / "o" / "bag_restored.png").read_bytes() == before
    assert run(args + ["--seed", 5, "--overwrite"], capsys)[0] == 0


def test_demo_runs_with_no_other_argument_than_the_prior(tiny_prior_dir, tmp_path, capsys):
    code, out, _ = run(["demo", "--prior", tiny_prior_dir, "--steps", 2, "--out", tmp_path / "d"], capsys)
    assert code == 0 and "demo_grid.png" in out
    metrics = json.loads((tmp_path / "d" / "demo_metrics.json").read_text())
    assert len(metrics) == 4


def _job(tmp_path, prior, inputs):
    job = tmp_path / "job.toml"
    job.write_text(f'prior = "{prior}"\nsteps = 2\ninputs = {json.dumps(inputs)}\nout = "res"\n'
                   '[[tasks]]\ntask = "sr4"\nsigma_y = [0.0, 0.05]\n[[tasks]]\ntask = "inpaint"\nfraction = 0.5\n')
    return job


def test_job_runs_resumes_and_reports_failures(image, tiny_prior_dir, tmp_path, capsys):
    (tmp_path / "zz_corrupt.png").write_bytes(b"nope")
    job = _job(tmp_path, tiny_prior_dir, ["bag.png", "zz_corrupt.png"])
    code, out, _ = run(["run", job], capsys)
    assert code == 1  # the corrupt input failed, the others completed
    manifest = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert manifest["items"] == 6 and manifest["done"] == 3 and len(manifest["failed"]) == 3
    assert all("zz_corrupt.png: cannot read image" in f["error"] for f in manifest["failed"])
    restored = sorted(p.relative_to(tmp_path / "res") for p in (tmp_path / "res").rglob("bag_restored.png"))
    assert len(restored) == 3
    stamp = {p: (tmp_path / "res" / p).stat().st_mtime_ns for p in restored}
    (tmp_path / "zz_corrupt.png").unlink()
    shutil.copy(image, tmp_path / "zz_corrupt.png")
    code, out, _ = run(["run", job], capsys)
    assert code == 0 and "6 of 6 items done" in out
    assert {p: (tmp_path / "res" / p).stat().st_mtime_ns for p in restored} == stamp  # finished items not redone
    table = (tmp_path / "res" / "summary.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| ") and "/2 |" in line]
    assert len(rows) == 3 and all("| 2/2 | " in row for row in rows)   # 3 settings x 2 inputs, all done now
    psnr = {float(row.split(" | ")[2]) for row in rows}
    assert all(5 < value < 60 for value in psnr)  # a mean PSNR per row


def test_job_file_task_suite_expands_to_the_papers_tasks(tmp_path, capsys):
    from projdiff.apps.restoration.job_file import load_job

    Image.new("RGB", (256, 256)).save(tmp_path / "photo.png")
    job = tmp_path / "job.toml"
    job.write_text('inputs = ["photo.png"]\ntasks = "paper-256"\n')
    items = load_job(job).items
    assert [item.spec.label() for item in items] == [
        "sr4", "inpaint-box64x64x128x128", "inpaint-fraction0.5", "deblur-blursigma3", "deblur-motion61", "colorize"]
    assert {item.sigma_y for item in items} == {0.05}
    job.write_text('inputs = ["photo.png"]\ntasks = "paper-512"\n')
    code, _, err = run(["run", job], capsys)
    assert code == 2 and "tasks: expected [[tasks]] tables or a suite name (paper-256), got 'paper-512'" in err


def test_job_file_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("inputs = [\n")
    assert run(["run", bad], capsys)[0] == 2
    bad.write_text('inputs = ["none*.png"]\n[[tasks]]\ntask = "sr4"\n')
    code, _, err = run(["run", bad], capsys)
    assert code == 2 and "matches no file" in err


def test_help_shows_examples_and_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "projdiff", "--help"], capture_output=True, text=True, check=True)
    assert "examples:" in result.stdout and "projdiff demo" in result.stdout
    result = subprocess.run([sys.executable, "-m", "projdiff", "restore", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--sigma-y" in result.stdout
