"""Each benchmark script's --quick mode runs to the end on the tiny prior and prints a table."""

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HAS_DEEPINV = importlib.util.find_spec("deepinv") is not None


def run(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(out: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table of ``out`` as (header, rows), checked: a separator of exactly one ``---`` per
    header column, at least one row, every row as wide as the header and labelled, no NaN/Inf cell."""
    lines = out.splitlines()
    found = []
    for i, line in enumerate(lines):
        if not line.startswith("|-"):
            continue
        header = cells(lines[i - 1])
        assert re.fullmatch(r"\|(---\|)+", line.strip()), f"bad separator {line!r}"
        assert line.count("---") == len(header), f"separator of {line.count('---')} columns under {header}"
        rows = []
        for row_line in lines[i + 1:]:
            if not row_line.startswith("|"):
                break
            row = cells(row_line)
            assert len(row) == len(header), f"row {row} under header {header}"
            assert row[0], f"row without a label: {row}"
            for cell in row:
                try:
                    assert math.isfinite(float(cell)), f"non-finite cell in {row}"
                except ValueError:
                    pass
            rows.append(row)
        assert rows, f"table {header} has no rows"
        found.append((header, rows))
    return found


def assert_table(out: str, *columns: str) -> None:
    """At least one well-formed table (see ``tables``), and each of ``columns`` heads one of them."""
    found = tables(out)
    assert found, out[-2000:]
    headers = {c for header, _ in found for c in header}
    assert set(columns) <= headers, f"missing columns {set(columns) - headers}"


def test_table_checks_refuse_malformed_tables():
    good = "| a | b |\n|---|---|\n| 1 | x |\n"
    assert tables(good) == [(["a", "b"], [["1", "x"]])]
    for bad in ("| a | b |\n|---|\n| 1 | x |\n", "| a | b |\n|---|---|\n| 1 |\n", "| a | b |\n|---|---|\n| nan | x |\n",
                "| a | b |\n|---|---|\n", "| a | b |\n|-|-|\n| 1 | x |\n", "| a | b |\n|---|---|\n|  | x |\n"):
        with pytest.raises(AssertionError):
            tables(bad)


def test_the_published_results_are_well_formed_tables():
    """benchmarks/RESULTS.md holds the --write output of every script: the same checks hold there."""
    assert len(tables((ROOT / "benchmarks" / "RESULTS.md").read_text())) >= 20


def test_conformance_quick():
    assert_table(run("benchmarks/conformance.py", "--quick"), "problem", "default per-sample", "default coverage")


def test_conformance_mode_weights_quick():
    out = run("benchmarks/conformance.py", "--mode-weights", "--quick")
    assert_table(out)
    assert "| default, 100 steps |" in out and "| 0 | 0.825 | 0.981 |" in out


@pytest.mark.slow
def test_restoration_quick(tiny_prior_dir):
    assert_table(run("benchmarks/restoration.py", "--quick", "--prior", str(tiny_prior_dir)))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DEEPINV, reason="deepinv is not installed (pip install -e '.[bench]'): peers.py needs it")
def test_peers_quick_with_plots(tiny_prior_dir, tmp_path):
    out = run("benchmarks/peers.py", "--quick", "--prior", str(tiny_prior_dir), "--plots", str(tmp_path))
    assert_table(out)
    assert "deepinv: DDRM" in out and "Pareto fronts" in out
    assert {p.name for p in tmp_path.iterdir()} == {"peers_psnr_vs_nfe.png", "peers_psnr_vs_seconds.png"}


@pytest.mark.slow
def test_photos_quick(tiny_rgb_prior_dir, tmp_path):
    from projdiff.apps.restoration.photos import build_photos

    build_photos(tmp_path / "photos", short_side=96, progress=False)
    out = run("benchmarks/photos.py", "--quick", "--prior", str(tiny_rgb_prior_dir), "--data", str(tmp_path / "photos"),
              "--no-deepinv")
    assert_table(out)
    assert "bicubic" in out and "biharmonic" in out and "gray copies" in out and "of 2 |" in out


@pytest.mark.slow
def test_photo_speed_quick(tiny_rgb_prior_dir):
    out = run("benchmarks/photo_speed.py", "--quick", "--prior", str(tiny_rgb_prior_dir), "--no-compile", "--threads", "1")
    assert_table(out)
    assert "channels_last" in out and "A whole restoration" in out


@pytest.mark.slow
def test_speed_quick(tiny_prior_dir):
    out = run("benchmarks/speed.py", "--quick", "--prior", str(tiny_prior_dir))
    assert_table(out)
    assert "Overhead per step" in out and "Peak memory" in out


def test_gpu_speed_runs_without_a_gpu(tiny_prior_dir, tmp_path):
    target = tmp_path / "gpu.md"
    out = run("benchmarks/gpu_speed.py", str(target), "--prior", str(tiny_prior_dir), "--batches", "1", "--steps", "2")
    assert target.read_text().strip() in out
    assert "no CUDA device" in out or "|---|" in out


def test_run_all_lists_every_benchmark():
    out = run("benchmarks/run_all.py", "--dry-run", "--prior", "somewhere")
    for script in ("conformance.py", "restoration.py", "peers.py", "speed.py", "load.py", "reliability.py"):
        assert script in out
    assert out.count("--write") == 6


def test_projdiff_never_imports_deepinv():
    out = run("-c", "import sys, projdiff, projdiff.cli, projdiff.testing.conformance; print('deepinv' in sys.modules)")
    assert out.strip() == "False"


@pytest.mark.slow
def test_load_benchmark_quick_mode():
    result = subprocess.run([sys.executable, "benchmarks/load.py", "--quick"], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "items/s" in result.stdout and "every item's outputs exist exactly once" in result.stdout


@pytest.mark.slow
def test_tumor_heldout_quick():
    out = run("benchmarks/tumor_heldout.py", "--quick")
    assert_table(out)
    for arm in ("| before |", "| hypodense |", "| cystic |", "| handcrafted |"):
        assert arm in out


@pytest.mark.slow
def test_tumor_training_noise_quick(tmp_path):
    out = run("benchmarks/tumor_training_noise.py", "--quick", "--draw-seeds", "0", "1", "--inits", "0", "5",
              "--records", str(tmp_path))
    assert_table(out, "draw seed", "quantity")
    assert "2 x 2" in out
