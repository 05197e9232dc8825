"""Kill ``restore`` and ``run`` in the middle of their work: no partial output set, no temporary file,
and the same command run again completes what the killed one started (without redoing finished work)."""

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from processes import start_projdiff, wait_until

from projdiff.cli import main

SUFFIXES = ("_grid.png", "_measurement.png", "_metrics.json", "_restored.png")


def _images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        Image.fromarray((np.random.default_rng(i).random((32, 32)) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
        paths.append(folder / f"im{i}.png")
    return paths


def _visible(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and not any(s.startswith(".") for s in p.relative_to(out).parts))


def _no_temporaries(out: Path) -> bool:
    staging = out / ".projdiff-job" / "staging"
    return not [p for p in out.rglob("*") if p.name.endswith(".tmp")] and \
        (not staging.exists() or not any(staging.iterdir()))


def _complete_sets(out: Path, stems) -> bool:
    """Every output set is all there or all absent (never half)."""
    names = set(_visible(out))
    return all(len({f"{s}{x}" for x in SUFFIXES} & names) in (0, 4) for s in stems)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_restore_killed_midway_is_completed_by_a_rerun(tmp_path, tiny_prior_dir, capsys, how):
    images = _images(tmp_path / "in", 3)
    out = tmp_path / "out"
    args = ["restore", *images, "--task", "sr4", "--sigma-y", "0.05", "--prior", tiny_prior_dir, "--steps", 150,
            "--out", out, "--quiet"]
    process = start_projdiff(args)
    first = out / "im0_restored.png"
    # The files of a committed item are moved to their names one after the other, so wait for all of
    # im0's (a kill between two moves leaves a set that only the rerun completes, as job_store says).
    wait_until(lambda: all((out / f"im0{suffix}").is_file() for suffix in SUFFIXES), process)
    stamp = first.stat().st_mtime_ns
    process.send_signal(how)
    code = process.wait(60)
    assert code == (-signal.SIGKILL if how == signal.SIGKILL else 143)
    if how == signal.SIGTERM:
        assert "terminated (SIGTERM)" in process.stdout.read()
        assert _no_temporaries(out)  # SIGTERM unwinds: nothing temporary is left behind
    assert _complete_sets(out, ["im0", "im1", "im2"]) and len(_visible(out)) < 12
    assert main([str(a) for a in args]) == 0
    capsys.readouterr()
    assert _visible(out) == sorted(f"im{i}{s}" for i in range(3) for s in SUFFIXES)
    assert first.stat().st_mtime_ns == stamp  # finished before the kill: not redone
    assert _no_temporaries(out)
    for i in range(3):
        with Image.open(out / f"im{i}_restored.png") as image:
            image.load()
        json.loads((out / f"im{i}_metrics.json").read_text())


@pytest.mark.slow
def test_run_terminated_midway_is_completed_by_a_rerun(tmp_path, tiny_prior_dir, capsys):
    images = _images(tmp_path, 4)
    job = tmp_path / "job.toml"
    job.write_text(f'prior = "{tiny_prior_dir}"\nsteps = 150\nout = "res"\n'
                   f'inputs = {json.dumps([p.name for p in images])}\n[[tasks]]\ntask = "sr4"\n')
    out = tmp_path / "res"
    process = start_projdiff(["run", job])
    done = out / ".projdiff-job" / "done"
    wait_until(lambda: done.is_dir() and any(done.iterdir()), process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(120) == 130  # stops after the current item
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stopped_early"] and 0 < manifest["done"] < 4
    assert _no_temporaries(out)
    assert main(["run", str(job), "--quiet"]) == 0
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["done"] == 4 and all(r["attempts"] == 1 for r in manifest["records"])
    assert len(_visible(out)) == 4 * 4 + 2  # four files per item, the manifest and its summary table
