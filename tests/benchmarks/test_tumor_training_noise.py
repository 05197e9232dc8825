"""The variance split of benchmarks/tumor_training_noise.py, on grids whose components are known."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from tumor_training_noise import variance_components  # noqa: E402


def test_a_grid_with_spread_only_across_inits_is_all_training_variance():
    parts = variance_components(np.array([[1.0, 3.0], [1.0, 3.0]]))
    assert parts["training"] == pytest.approx(2.0)
    assert parts["draws"] == 0.0
    assert parts["one_run"] == pytest.approx(2.0)


def test_draw_variance_is_the_spread_of_row_means_less_the_training_share():
    parts = variance_components(np.array([[1.0, 3.0], [5.0, 7.0]]))
    assert parts["training"] == pytest.approx(2.0)         # each row: variance 2
    assert parts["draws"] == pytest.approx(8.0 - 2.0 / 2)  # row means 2 and 6: variance 8


def test_the_components_recover_simulated_variances():
    rng = np.random.default_rng(0)
    grid = rng.normal(0, 0.3, (400, 1)) + rng.normal(0, 0.1, (400, 4))
    parts = variance_components(grid)
    assert parts["training"] == pytest.approx(0.01, rel=0.1)
    assert parts["draws"] == pytest.approx(0.09, rel=0.2)


def test_one_init_cannot_split_the_variance():
    with pytest.raises(ValueError, match="inits"):
        variance_components(np.zeros((3, 1)))
