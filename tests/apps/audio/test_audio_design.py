"""The prior design study's smoke mode runs every kind of design (waveform, STFT, ISDM, sigma range) to its table,
with the NMF warm-start column for each."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from chorale_fixtures import RATE, fake_chorales

import projdiff
from projdiff.apps.audio.chorales import STEMS
from projdiff.cli import main
from projdiff.priors import IndependentPriors

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_audio_design_quick_trains_resumes_and_reports(tmp_path):
    data = fake_chorales(tmp_path / "data")
    nmf = tmp_path / "nmf.safetensors"
    assert main(["fit-nmf", "--stems", str(data / "train"), "--out", str(nmf), "--components", "4",
                 "--iterations", "20", "--quiet"]) == 0
    command = [sys.executable, "benchmarks/audio_design.py", "--quick", "--data", str(data), "--out",
               str(tmp_path / "study"), "--tracks", "1", "--seconds", "1.5", "--nmf", str(nmf)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "|---|" in done.stdout and "| waveform |" in done.stdout and "| stft |" in done.stdout
    designs = ("waveform", "stft", "isdm", "waveform-range")
    study = [e for design in designs
             for e in json.loads((tmp_path / "study" / design / "study.json").read_text()).values()]
    assert [e["design"] for e in study] == list(designs)
    trained_in_range = json.loads((tmp_path / "study" / "waveform-range" / "training_summary.json").read_text())
    assert trained_in_range["config"]["sigma_range"] == [0.01, 1.0]
    assert all(e["hours"] > 0 and e["steps"] > 0 and "sisdri_avg" in e["scratch"] for e in study)
    assert all("sisdri_avg" in e["warm"] and "sisdri_avg" in e["nmf"] for e in study)   # warm start: every design
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("\n|---") == 1      # budgets spent: nothing trains again
    rows = [len(json.loads((tmp_path / "study" / d / "study.json").read_text())) for d in ("waveform", "stft")]
    assert rows == [1, 1]
    target = tmp_path / "bundled" / "chorales-isdm"
    bundling = command + ["--designs", "isdm", "--bundle", str(target)]
    done = subprocess.run(bundling, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert isinstance(projdiff.load_prior(target), IndependentPriors)
    assert not list(target.rglob("checkpoints")) and (target / "soprano" / "train_log.jsonl").is_file()
    card = (target / "README.md").read_text()
    warm = json.loads((tmp_path / "study" / "isdm" / "study.json").read_text()).popitem()[1]["warm"]["sisdri_avg"]
    assert f"| from NMF: 10 levels, sigma 0.01 -> 0.0025 | " in card and f"{warm:.2f} |" in card
    assert all("parameters." in (target / s / "README.md").read_text() for s in STEMS)
    assert (target / "nmf.safetensors").read_bytes() == nmf.read_bytes()     # what --init nmf then uses
    again = subprocess.run(bundling, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "(exists)" in again.stderr


@pytest.mark.slow
def test_isdm_stems_train_in_two_processes_and_the_last_evaluates(tmp_path):
    data, study = fake_chorales(tmp_path / "data"), tmp_path / "study"
    command = [sys.executable, "benchmarks/audio_design.py", "--quick", "--designs", "isdm", "--data", str(data),
               "--out", str(study), "--tracks", "1", "--seconds", "1.5", "--stems"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(command + ["soprano,alto"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "no evaluation" in first.stdout and not (study / "isdm" / "study.json").exists()
    assert (study / "isdm" / "alto" / "training_summary.json").is_file() and not (study / "isdm" / "tenor").exists()
    second = subprocess.run(command + ["tenor,bass"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "| isdm |" in second.stdout and len(json.loads((study / "isdm" / "study.json").read_text())) == 1
    joint = projdiff.load_prior(study / "isdm")                     # the design's folder is a prior users can load
    assert isinstance(joint, IndependentPriors) and joint.shape == (4, None) and joint.metadata["kind"] == "audio"
    mixture = sum(soundfile.read(data / "test" / "bwv007" / f"{s}.wav")[0] for s in STEMS)
    soundfile.write(tmp_path / "mix.wav", mixture.astype(np.float32), RATE, subtype="FLOAT")
    assert main(["separate", str(tmp_path / "mix.wav"), "--prior", str(study / "isdm"), "--steps", "2", "--quiet",
                 "--out", str(tmp_path / "stems")]) == 0
    assert sorted(f.name for f in (tmp_path / "stems").glob("mix_*.wav")) == sorted(f"mix_{s}.wav" for s in STEMS)
    bad = subprocess.run(command + ["soprano,drums"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--stems: expected names among soprano,alto,tenor,bass" in bad.stderr
