"""The prior design study's smoke mode runs every kind of design (waveform, STFT, ISDM) to its table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chorale_fixtures import fake_chorales

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_audio_design_quick_trains_resumes_and_reports(tmp_path):
    data = fake_chorales(tmp_path / "data")
    command = [sys.executable, "benchmarks/audio_design.py", "--quick", "--data", str(data), "--out",
               str(tmp_path / "study"), "--tracks", "1", "--seconds", "1.5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "|---|" in done.stdout and "| waveform |" in done.stdout and "| stft |" in done.stdout
    study = json.loads((tmp_path / "study" / "study.json").read_text())
    assert {e["design"] for e in study.values()} == {"waveform", "stft", "isdm"}
    assert all(e["hours"] > 0 and e["steps"] > 0 for e in study.values())
