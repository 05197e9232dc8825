"""The command line as users use it: jobs that cannot escape their folder or be poisoned by one item,
outputs checked on resume, shared folders (umask), any file name, devices, measurements that
round-trip, audio formats kept."""

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from projdiff.cli import main

DEMO = Path(__file__).resolve().parents[2] / "projdiff" / "bundled" / "demo"


def run(args, capsys=None):
    if capsys is not None:
        capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr() if capsys is not None else None
    return (code, out.out, out.err) if out is not None else code


def _job(folder: Path, prior, body: str, inputs=("bag.png",), out="res", steps=1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in inputs:
        if not (folder / name).exists():
            shutil.copy(DEMO / "bag.png", folder / name)
    job = folder / "job.toml"
    job.write_text(f'prior = "{prior}"\nsteps = {steps}\nout = "{out}"\ninputs = {json.dumps(list(inputs))}\n{body}')
    return job


def _visible(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def test_job_outputs_cannot_escape_the_job_folder_unless_allowed(tmp_path, tiny_prior_dir, capsys):
    job = _job(tmp_path / "jobs", tiny_prior_dir, '[[tasks]]\ntask = "denoise"\n', out="../escaped")
    code, _, err = run(["run", job], capsys)
    assert code == 2 and "out: '../escaped' is outside the job file's folder" in err and err.count("\n") == 1
    assert not (tmp_path / "escaped").exists()
    job.write_text(job.read_text().replace('out = "../escaped"', f'out = "{tmp_path / "abs"}"'))
    assert run(["run", job], capsys)[0] == 2 and not (tmp_path / "abs").exists()
    assert run(["run", job, "--allow-outside", "--quiet"], capsys)[0] == 0
    assert (tmp_path / "abs" / "manifest.json").is_file()


def test_job_masks_resolve_against_the_job_file_not_the_working_directory(tmp_path, tiny_prior_dir, capsys,
                                                                          monkeypatch):
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    job = _job(tmp_path / "jobs", tiny_prior_dir, '[[tasks]]\ntask = "inpaint"\nmask = "holes.png"\n')
    Image.fromarray(mask).save(tmp_path / "jobs" / "holes.png")
    monkeypatch.chdir(tmp_path)  # the mask is not in the working directory
    assert run(["run", "jobs/job.toml", "--quiet"], capsys)[0] == 0
    assert any(name.endswith("bag_restored.png") for name in _visible(tmp_path / "jobs" / "res"))


def test_one_bad_item_fails_alone_and_the_others_run(tmp_path, tiny_prior_dir, capsys, monkeypatch):
    from projdiff.apps.restoration import jobs

    body = ('[[tasks]]\ntask = "deblur"\nblur_sigma = [1e30, 1.0]\n'
            '[[tasks]]\ntask = "denoise"\nsamples = [1000000, 1]\n')
    job = _job(tmp_path, tiny_prior_dir, body, inputs=("bag.png", "boom.png"))
    restore = jobs.restore_image

    def crash_on_boom(image, spec, prior, **kwargs):  # any exception, not only bad input
        if float(image.mean()) < 0:
            raise RuntimeError("never")
        if kwargs.get("seed") == boom_seed[0]:
            raise KeyError("a bug in one item")
        return restore(image, spec, prior, **kwargs)

    items = jobs.load_job(job).items
    boom_seed = [next(i.seed for i in items if i.input.name == "boom.png" and i.spec.name == "denoise"
                      and i.samples == 1)]
    monkeypatch.setattr(jobs, "restore_image", crash_on_boom)
    code, _, err = run(["run", job, "--quiet"], capsys)
    manifest = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert code == 1 and manifest["items"] == 8
    errors = {f["id"]: f["error"] for f in manifest["failed"]}
    assert len(errors) == 5 and manifest["done"] == 3
    assert sum("blur_sigma: gives a" in e for i, e in errors.items() if "blursigma1e+30" in i) == 2
    assert sum("samples 1000000 x 1 item(s) of 32x32 pixels: needs about" in e for e in errors.values()) == 2
    assert errors["denoise_sigma0_steps1_samples1/boom"] == "KeyError: 'a bug in one item'"
    assert "5 of 8 items failed" in err and err.count("  failed ") == 5  # --quiet still reports failures


def test_an_output_changed_after_commit_is_redone_on_resume(tmp_path, tiny_prior_dir, capsys):
    job = _job(tmp_path, tiny_prior_dir, '[[tasks]]\ntask = "denoise"\n')
    assert run(["run", job, "--quiet"], capsys)[0] == 0
    restored = next((tmp_path / "res").rglob("bag_restored.png"))
    good = restored.read_bytes()
    restored.write_bytes(b"garbage")
    code, out, _ = run(["run", job], capsys)
    assert code == 0 and "1 of 1 items done" in out and "done   denoise" in out
    assert restored.read_bytes() == good


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_honour_the_umask(tmp_path, tiny_prior_dir, umask):
    shutil.copy(DEMO / "bag.png", tmp_path / "bag.png")
    previous = os.umask(umask)
    try:
        assert run(["restore", tmp_path / "bag.png", "--task", "denoise", "--prior", tiny_prior_dir, "--steps", 1,
                    "--out", tmp_path / "out", "--quiet"]) == 0
    finally:
        os.umask(previous)
    for name in _visible(tmp_path / "out"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_file_names_that_are_not_utf8(tmp_path, tiny_prior_dir, tiny_audio_prior_dir, capsys):
    name = os.fsdecode(b"caf\xe9")
    shutil.copy(DEMO / "bag.png", tmp_path / f"{name}.png")
    code, out, err = run(["restore", tmp_path / f"{name}.png", "--task", "denoise", "--prior", tiny_prior_dir,
                          "--steps", 1, "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert (tmp_path / "out" / f"{name}_restored.png").is_file()
    soundfile.write(os.fsencode(tmp_path / f"{name}.wav"), 0.1 * np.sin(np.arange(2000) / 5.0).astype(np.float32), 8000)
    code, out, err = run(["separate", tmp_path / f"{name}.wav", "--prior", tiny_audio_prior_dir, "--steps", 1,
                          "--out", tmp_path / "stems", "--quiet"], capsys)
    assert code == 0, err
    assert (tmp_path / "stems" / f"{name}_bass.wav").is_file()


def test_stems_keep_the_input_sample_format(tmp_path, tiny_audio_prior_dir, capsys):
    mix = 0.3 * np.sin(np.arange(2000) / 7.0)
    soundfile.write(tmp_path / "mix.wav", mix, 8000, subtype="PCM_16")
    assert run(["separate", tmp_path / "mix.wav", "--prior", tiny_audio_prior_dir, "--steps", 1, "--out",
                tmp_path / "out", "--quiet"], capsys)[0] == 0
    for stem in ("soprano", "alto", "tenor", "bass"):
        assert soundfile.info(tmp_path / "out" / f"mix_{stem}.wav").subtype == "PCM_16"


def test_measurement_round_trips_through_restore_measurement(tmp_path, tiny_prior_dir, capsys):
    from projdiff.apps.restoration.image_io import read_image

    shutil.copy(DEMO / "bag.png", tmp_path / "bag.png")
    assert run(["restore", tmp_path / "bag.png", "--task", "sr4", "--prior", tiny_prior_dir, "--steps", 3,
                "--out", tmp_path / "first", "--quiet"], capsys)[0] == 0
    measured = tmp_path / "first" / "bag_measurement.png"
    assert read_image(measured).shape == (1, 8, 8)  # the measurement at its own size
    assert run(["restore", measured, "--measurement", "--task", "sr4", "--prior", tiny_prior_dir, "--steps", 3,
                "--out", tmp_path / "again", "--quiet"], capsys)[0] == 0
    assert _visible(tmp_path / "again") == ["bag_grid.png", "bag_metrics.json", "bag_restored.png"]
    first, again = read_image(tmp_path / "first" / "bag_restored.png"), read_image(tmp_path / "again" /
                                                                                     "bag_restored.png")
    assert again.shape == first.shape == (1, 32, 32)
    assert float((first - again).abs().mean()) < 0.02  # the same case, up to the measurement's 8-bit rounding


def test_restore_rerun_skips_what_is_done_and_notes_a_noise_far_above_the_range(tmp_path, tiny_prior_dir, capsys):
    shutil.copy(DEMO / "bag.png", tmp_path / "bag.png")
    args = ["restore", tmp_path / "bag.png", "--task", "denoise", "--prior", tiny_prior_dir, "--steps", 1,
            "--sigma-y", 5, "--out", tmp_path / "out"]
    code, _, err = run(args, capsys)
    assert code == 0 and "sigma_y 5 is far above the pixel range [0, 1]" in err
    stamp = (tmp_path / "out" / "bag_restored.png").stat().st_mtime_ns
    code, out, _ = run(args, capsys)
    assert code == 0 and "already restored with these settings" in out
    assert (tmp_path / "out" / "bag_restored.png").stat().st_mtime_ns == stamp
    code, _, err = run(args + ["--seed", 3], capsys)
    assert code == 2 and "exists; pass --overwrite" in err


def test_device_and_dtype_options_on_the_cpu(tmp_path, tiny_prior_dir, tiny_audio_prior_dir, capsys):
    """--device cpu (and auto, which is the CPU here) and --dtype on the commands that run a model."""
    shutil.copy(DEMO / "bag.png", tmp_path / "bag.png")
    for device, dtype in (("cpu", "float32"), ("auto", "bfloat16")):
        out = tmp_path / f"out-{device}"
        code, _, err = run(["restore", tmp_path / "bag.png", "--task", "sr4", "--prior", tiny_prior_dir, "--steps", 2,
                            "--out", out, "--device", device, "--dtype", dtype, "--quiet"], capsys)
        assert code == 0, err
    soundfile.write(tmp_path / "mix.wav", 0.1 * np.sin(np.arange(1000) / 5.0).astype(np.float32), 8000)
    assert run(["separate", tmp_path / "mix.wav", "--prior", tiny_audio_prior_dir, "--steps", 1, "--out",
                tmp_path / "stems", "--device", "cpu", "--dtype", "bfloat16", "--quiet"], capsys)[0] == 0
    assert run(["demo", "--prior", tiny_prior_dir, "--steps", 1, "--out", tmp_path / "demo", "--device", "cpu",
                "--quiet"], capsys)[0] == 0
    job = _job(tmp_path / "job", tiny_prior_dir, '[[tasks]]\ntask = "denoise"\n')
    assert run(["run", job, "--device", "cpu", "--dtype", "bfloat16", "--quiet"], capsys)[0] == 0


def test_help_lists_outputs_and_names_the_subcommand_in_usage_errors(capsys):
    from projdiff.cli import build_parser

    assert "NAME_mix.wav" in build_parser().subcommands["generate"].format_help()
    assert "--device" in build_parser().subcommands["tumor"].format_help()
    code, _, err = run(["restore", "x.png", "--task", "sr4", "--sigma_y", "0.1"], capsys)
    assert code == 2 and err.startswith("projdiff restore: error: unrecognized arguments: --sigma_y 0.1; "
                                        "did you mean --sigma-y?") and err.count("\n") == 1


def test_an_internal_error_is_one_line_with_exit_1(tmp_path, tiny_prior_dir, capsys, monkeypatch):
    from projdiff.apps.restoration import restoration

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(restoration, "restore_image", bug)
    shutil.copy(DEMO / "bag.png", tmp_path / "bag.png")
    code, _, err = run(["restore", tmp_path / "bag.png", "--task", "sr4", "--prior", tiny_prior_dir, "--out",
                        tmp_path / "out"], capsys)
    assert code == 1 and err.count("\n") == 1 and "internal error (KeyError" in err and "Traceback" not in err
    assert _visible(tmp_path / "out") == [] if (tmp_path / "out").exists() else True


def test_stderr_stays_one_line_when_printing_a_name_that_is_not_utf8(capsys):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["restore", os.fsdecode(b"nope\xff.png"), "--task", "sr4"])
    assert code == 2 and err.getvalue().count("\n") == 1
