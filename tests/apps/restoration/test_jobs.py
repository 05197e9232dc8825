"""Batch jobs at scale: sharded jobs give the same bytes, kills and Ctrl-C lose nothing and redo nothing,
bad inputs are skipped, commits are exclusive."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from processes import start_projdiff, wait_until

from projdiff.apps.restoration import jobs
from projdiff.apps.restoration.job_store import JobStore
from projdiff.cli import main

ROOT = Path(__file__).resolve().parents[3]
ACCELERATE = Path(sys.executable).parent / "accelerate"


def _images(folder: Path, count: int, size: int = 32, channels: int = 1) -> list[str]:
    """``count`` random 8-bit PNGs named im00.png, im01.png, ...; returns their names."""
    folder.mkdir(parents=True, exist_ok=True)
    shape = (size, size) if channels == 1 else (size, size, channels)
    for i in range(count):
        pixels = (np.random.default_rng(i).random(shape) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"im{i:02d}.png")
    return [f"im{i:02d}.png" for i in range(count)]


def _job(folder: Path, prior, inputs: list[str], tasks: str, steps: int = 3) -> Path:
    job = folder / "job.toml"
    job.write_text(f'prior = "{prior}"\nsteps = {steps}\nout = "res"\ninputs = {json.dumps(inputs)}\n{tasks}')
    return job


SR4 = '[[tasks]]\ntask = "sr4"\nsigma_y = [0.0, 0.05]\n'


def _done(out: Path) -> set[str]:
    folder = out / ".projdiff-job" / "done"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _outputs(out: Path) -> dict[str, bytes]:
    """Every file under the output names (not the bookkeeping folder, not the manifest)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".projdiff-job" not in p.parts and p.name not in ("manifest.json", "summary.md")}


def _assert_all_valid(out: Path) -> None:
    """No partial or temporary file is visible under an output name."""
    for name, data in _outputs(out).items():
        assert not Path(name).name.startswith("."), name
        if name.endswith(".png"):
            with Image.open(out / name) as image:
                image.load()
        else:
            json.loads(data)


def _records(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in json.loads((out / "manifest.json").read_text())["records"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_write_the_same_bytes_as_one(tmp_path, tiny_prior_dir):
    # deblur (FFT) rounds differently with 1 and 2 threads: the job pins threads (default 1) per process
    inputs = _images(tmp_path, 2, size=48, channels=3)
    tasks = '[[tasks]]\ntask = "deblur"\nsigma_y = [0.0, 0.05]\n'
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        _job(folder, tiny_prior_dir, [f"../{name}" for name in inputs], tasks)
    single = start_projdiff(["run", one / "job.toml", "--quiet"], env={"OMP_NUM_THREADS": "2"})
    assert single.wait(120) == 0, single.stdout.read()
    launch = subprocess.run([ACCELERATE, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                             "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                             str(_free_port()), "-m", "projdiff", "run", two / "job.toml"],
                            capture_output=True, text=True, timeout=180, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert launch.returncode == 0, launch.stdout + launch.stderr
    assert launch.stdout.count("4 of 4 items done") == 1  # only the main process reports
    a, b = _outputs(one / "res"), _outputs(two / "res")
    assert sorted(a) == sorted(b) and len(a) == 16
    for name in a:
        if name.endswith("_metrics.json"):
            timing = {"seconds"}
            assert {k: v for k, v in json.loads(a[name]).items() if k not in timing} == \
                   {k: v for k, v in json.loads(b[name]).items() if k not in timing}, name
        else:
            assert a[name] == b[name], name
    manifest = json.loads((two / "res" / "manifest.json").read_text())
    assert manifest["done"] == 4 and manifest["pending"] == 0 and not manifest["stopped_early"]
    assert [(p["process"], p["ran"]) for p in manifest["processes"]] == [(0, 2), (1, 2)]
    assert {r["process"] for r in manifest["records"]} == {0, 1}
    assert all(r["attempts"] == 1 for r in manifest["records"])


@pytest.mark.slow
def test_sigkill_then_rerun_completes_every_item_exactly_once(tmp_path, tiny_prior_dir, capsys):
    job = _job(tmp_path, tiny_prior_dir, _images(tmp_path, 6), SR4)
    out = tmp_path / "res"
    process = start_projdiff(["run", job, "--quiet"])
    wait_until(lambda: len(_done(out)) >= 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    _assert_all_valid(out)
    first = _done(out)
    assert 2 <= len(first) < 12
    first_records = {k: (out / ".projdiff-job" / "done" / k / "record.json").read_text() for k in first}
    stamps = {name: (out / name).stat().st_mtime_ns for name in _outputs(out)}

    assert main(["run", str(job), "--quiet"]) == 0
    capsys.readouterr()
    _assert_all_valid(out)
    records = _records(out)
    assert len(records) == 12 and all(r["status"] == "done" for r in records.values())
    assert len(_done(out)) == 12 and not any((out / ".projdiff-job" / "staging").iterdir())
    assert len(_outputs(out)) == 4 * 12  # each item's four files, once
    for key, text in first_records.items():  # finished before the kill: neither redone nor rewritten
        assert (out / ".projdiff-job" / "done" / key / "record.json").read_text() == text
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    killed_attempt = json.loads(next(iter(first_records.values())))["attempt"]
    redone = [r for r in records.values() if r["attempt"] != killed_attempt]
    assert len(redone) == 12 - len(first)
    attempts = sorted(r["attempts"] for r in records.values())
    assert attempts in ([1] * 12, [1] * 11 + [2])  # at most the item in flight at the kill was started twice
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["done_before_this_run"] == len(first) and manifest["processes"][0]["ran"] == 12 - len(first)


@pytest.mark.slow
def test_sigint_stops_after_the_current_item_and_a_rerun_finishes(tmp_path, tiny_prior_dir, capsys):
    job = _job(tmp_path, tiny_prior_dir, _images(tmp_path, 6), SR4)
    out = tmp_path / "res"
    process = start_projdiff(["run", job])
    wait_until(lambda: len(_done(out)) >= 1, process)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130, process.stdout.read()
    assert "stopping after the current item" in process.stdout.read()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stopped_early"] and manifest["done"] + manifest["pending"] == 12 and manifest["pending"] > 0
    assert not any((out / ".projdiff-job" / "staging").iterdir())  # the current item was finished, not dropped
    _assert_all_valid(out)
    assert main(["run", str(job), "--quiet"]) == 0
    capsys.readouterr()
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in _records(out).values())


def test_bad_inputs_are_skipped_and_reported(tmp_path, tiny_prior_dir, capsys, monkeypatch):
    good = _images(tmp_path, 2)
    png = (tmp_path / good[0]).read_bytes()
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "vanished.png").write_bytes(png)
    job = _job(tmp_path, tiny_prior_dir, good + ["truncated.png", "empty.png", "notes.txt", "vanished.png"],
               '[[tasks]]\ntask = "denoise"\n')
    load_job = jobs.load_job

    def load_then_remove(path, *args):  # the file disappears between planning and running
        planned = load_job(path)
        (tmp_path / "vanished.png").unlink()
        return planned

    monkeypatch.setattr(jobs, "load_job", load_then_remove)
    assert main(["run", str(job)]) == 1
    printed = capsys.readouterr().out
    manifest = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert manifest["done"] == 2 and manifest["pending"] == 0
    reasons = {Path(f["input"]).name: f["error"] for f in manifest["failed"]}
    assert sorted(reasons) == ["empty.png", "notes.txt", "truncated.png", "vanished.png"]
    assert "cannot read image" in reasons["truncated.png"] and "cannot read image" in reasons["empty.png"]
    assert "unsupported file type '.txt'" in reasons["notes.txt"] and "no such file" in reasons["vanished.png"]
    assert "2 of 6 items done, 4 failed" in printed and printed.count("  failed ") == 4
    assert sorted(Path(n).name for n in _outputs(tmp_path / "res")) == sorted(
        f"{Path(g).stem}{s}" for g in good for s in ("_grid.png", "_measurement.png", "_metrics.json", "_restored.png"))


def test_bad_threads_and_a_folder_in_use_exit_2(tmp_path, tiny_prior_dir, capsys):
    job = _job(tmp_path, tiny_prior_dir, _images(tmp_path, 1), SR4)
    job.write_text(job.read_text().replace("steps = 3", "steps = 3\nthreads = 0"))
    assert main(["run", str(job)]) == 2
    assert "job.toml: threads: expected an integer >= 1, got 0" in capsys.readouterr().err
    job.write_text(job.read_text().replace("threads = 0", "threads = 1"))
    with JobStore(tmp_path / "res").lock():
        assert main(["run", str(job)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "res: another projdiff run is using this output folder" in err


def test_commit_is_exclusive_and_a_commit_cut_short_is_finished(tmp_path):
    store, other = JobStore(tmp_path), JobStore(tmp_path)  # two attempts at the same item
    record = {"id": "a/x", "outputs": ["a/x_restored.png", "a/x_metrics.json"]}

    def stage(attempt: JobStore, text: str) -> Path:
        staging = attempt.begin("a__x", "a/x")
        (staging / "x_restored.png").write_text(text)
        (staging / "x_metrics.json").write_text("{}")
        return staging

    first, second = stage(store, "first"), stage(other, "second")
    assert store.commit("a__x", first, record) and not other.commit("a__x", second, record)
    other.close()
    assert (tmp_path / "a" / "x_restored.png").read_text() == "first" and not second.exists()
    assert store.attempts()["a/x"] == 2
    # a kill between the commit (rename) and moving the files: the next run finishes the move
    (tmp_path / "a" / "x_restored.png").rename(tmp_path / ".projdiff-job" / "done" / "a__x" / "x_restored.png")
    with store.lock():
        store.recover()
        with pytest.raises(FileExistsError, match="another projdiff run"):
            with JobStore(tmp_path).lock():
                pass
    assert (tmp_path / "a" / "x_restored.png").read_text() == "first" and store.is_done("a__x")
    (tmp_path / "a" / "x_metrics.json").unlink()  # outputs deleted by hand: the item is withdrawn, runs again
    store.recover()
    assert not store.is_done("a__x")
    store.close()


def _committed(store: JobStore, out: Path) -> None:
    """Commit one item a/x with output a/x.png through ``store``."""
    staging = store.begin("a__x", "a/x")
    (staging / "x.png").write_text("x")
    assert store.commit("a__x", staging, {"id": "a/x", "outputs": ["a/x.png"]})
    assert (out / "a" / "x.png").read_text() == "x"


def test_a_withdraw_cut_short_is_cleaned_by_the_next_recover(tmp_path, monkeypatch):
    """Guards where a withdrawn item goes (staging/, which recover empties): a kill between the rename
    and the delete leaves nothing behind, and the bookkeeping folder keeps its documented layout."""
    import shutil

    store = JobStore(tmp_path)
    _committed(store, tmp_path)
    rmtree = shutil.rmtree

    def killed_on_withdrawn(path, *args, **kwargs):
        if str(path).endswith(".withdrawn"):
            raise KeyboardInterrupt
        return rmtree(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "rmtree", killed_on_withdrawn)
        with pytest.raises(KeyboardInterrupt):
            store.withdraw("a__x")
    assert not store.is_done("a__x")
    with store.lock():
        store.recover()
    root = tmp_path / ".projdiff-job"
    assert not [p for p in root.rglob("*") if "withdrawn" in p.name]
    assert {p.name for p in root.iterdir()} <= {"staging", "done", "failed", "attempts", "lock"}
    assert (tmp_path / "a" / "x.png").read_text() == "x"              # withdrawing keeps the outputs
    store.close()


def test_discard_after_a_commit_that_could_not_publish_keeps_the_error(tmp_path):
    """Guards discard() of a staging folder that is already gone: the callers discard on any error,
    including one raised after commit's rename (a folder where an output file is to go), and the
    discard must not replace that error."""
    store = JobStore(tmp_path)
    staging = store.begin("a__x", "a/x")
    (staging / "x.png").write_text("x")
    (tmp_path / "a" / "x.png").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        store.commit("a__x", staging, {"id": "a/x", "outputs": ["a/x.png"]})
    assert not staging.exists()
    store.discard(staging)
    store.close()
