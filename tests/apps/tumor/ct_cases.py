"""A tiny synthetic CT case shared by the lesion-backend property tests."""

import numpy as np


def small_case(seed: int, base: float, organ_cut: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ct_hu (14, 18, 18) float32, organ mask, lesion mask inside the organ); air on one side."""
    rng = np.random.default_rng(seed)
    ct = (base + 20 * rng.standard_normal((14, 18, 18))).astype(np.float32)
    ct[:, :, :2] = -1000.0
    organ = np.zeros(ct.shape, bool)
    organ[2:12, 2:16, organ_cut:17] = True
    lesion = np.zeros(ct.shape, bool)
    lesion[5:9, 6:11, 8:13] = True
    return ct, organ, lesion & organ
