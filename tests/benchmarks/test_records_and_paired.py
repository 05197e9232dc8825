"""The benchmark helpers: resumable, shardable records and the two-way bootstrap of paired differences."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from _paired import seeds_needed, two_way_interval  # noqa: E402
from _records import Records, parse_shard  # noqa: E402


def test_records_resume_and_split_between_writers(tmp_path):
    keys = [f"unit{k}" for k in range(6)]
    first, second = Records(tmp_path, (0, 2)), Records(tmp_path, (1, 2))
    assert first.mine(keys) == ["unit0", "unit2", "unit4"] and second.mine(keys) == ["unit1", "unit3", "unit5"]
    first.add("unit0", {"value": 1})
    with open(second.path, "a") as handle:                     # a writer killed in the middle of a line
        handle.write('{"key": "unit1", "val')
    second.add("unit3", {"value": 3})
    done = Records(tmp_path).done()
    assert set(done) == {"unit0", "unit3"} and done["unit3"]["value"] == 3
    assert first.mine(keys) == ["unit2", "unit4"] and second.mine(keys) == ["unit1", "unit5"]
    assert parse_shard("1/3") == (1, 3)


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b"])
def test_parse_shard_rejects_what_is_not_k_of_n(text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        parse_shard(text)


@pytest.mark.parametrize("script", ["tumor.py", "tumor_heldout.py", "tumor_training_noise.py"])
def test_a_bad_shard_ends_in_one_line_and_exit_2(script):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--shard", "2/2", "--report-only"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--shard" in done.stderr and "expected 0 <= K < N, got '2/2'" in done.stderr
    assert "Traceback" not in done.stderr


def test_two_way_interval_covers_the_seeds_variation():
    rng = np.random.default_rng(0)
    units = rng.normal(0, 0.05, 40)
    one_seed = (0.02 + units)[None]
    mean, low, high = two_way_interval(one_seed)
    assert low < mean < high and mean == pytest.approx(one_seed.mean())
    seeds = 0.02 + rng.normal(0, 0.1, (5, 1)) + units            # training runs that differ a lot
    _, low5, high5 = two_way_interval(seeds)
    assert high5 - low5 > 2 * (high - low)                        # the seeds' spread widens the interval
    assert np.isnan(two_way_interval(np.full((2, 3), np.nan))[0])
    assert seeds_needed(4, 0.10, 0.05) == 16 and seeds_needed(4, 0.04, 0.05) == 4
