"""The tumor benchmark's post-processing removes exactly the predicted components below a volume in mm3."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from tumor import remove_small_components  # noqa: E402


def test_components_below_the_volume_go_and_the_rest_stay_whole():
    pred = np.zeros((10, 10, 10), bool)
    pred[1:4, 1:4, 1:4] = True                      # 27 voxels: 27 * 2 = 54 mm3
    pred[6, 6, 6] = pred[7, 7, 7] = True            # diagonal neighbours: one 26-connected component, 4 mm3
    spacing = (2.0, 1.0, 1.0)
    assert np.array_equal(remove_small_components(pred, spacing, 0.0), pred)
    kept = remove_small_components(pred, spacing, 5.0)
    assert kept.sum() == 27 and kept[1:4, 1:4, 1:4].all()
    assert np.array_equal(remove_small_components(pred, spacing, 4.0), pred)    # 4 mm3 is not below 4
    assert not remove_small_components(pred, spacing, 55.0).any()
