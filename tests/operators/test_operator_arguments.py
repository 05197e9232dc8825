"""Bad constructor arguments: each operator refuses them with one line naming the argument, its bounds and the value.

Written against the messages' documented form ``"<argument>: expected <what>, got <value>"``, with the
bounds worked out from each operator's docstring, so a changed bound or a misnamed argument fails.
"""

from __future__ import annotations

import pytest
import torch

from projdiff.operators import (HDR, Blur, Colorization, CompressedSensing, Denoising, Inpainting, MatrixOperator,
                                NonlinearOperator, PhaseRetrieval, SourceMask, SparseViewCT, SumOfSources)
from projdiff.operators._common import as_int, frobenius_noise_gain
from projdiff.operators.kernels import gaussian_kernel, motion_kernel, normalize_kernel

CASES = {
    "denoising shape": (lambda: Denoising((0, 3)),
                        "input_shape: expected a sequence of at least 1 positive ints, got (0, 3)"),
    "colorization shape": (lambda: Colorization((3, -1, 4)),
                           "input_shape: expected a sequence of at least 1 positive ints, got (3, -1, 4)"),
    "phase retrieval shape": (lambda: PhaseRetrieval((4,)),
                              "input_shape: expected a sequence of at least 2 positive ints, got (4,)"),
    "phase retrieval oversampling": (lambda: PhaseRetrieval((4, 4), oversampling=0),
                                     "oversampling: expected a positive finite number, got 0.0"),
    "phase retrieval oversampling type": (lambda: PhaseRetrieval((4, 4), oversampling="2"),
                                          "oversampling: expected a positive finite number, got '2'"),
    "hdr low": (lambda: HDR((4,), low=float("nan")), "low: expected a finite number, got nan"),
    "hdr high": (lambda: HDR((4,), low=1.0, high=1.0), "high: expected a number greater than low = 1.0, got 1.0"),
    "box top below": (lambda: Inpainting.box((1, 8, 6), top=-1, left=0, height=1, width=1),
                      "top: expected an int in [0, 7], got -1"),
    "box top beyond": (lambda: Inpainting.box((1, 8, 6), top=8, left=0, height=1, width=1),
                       "top: expected an int in [0, 7], got 8"),
    "box left below": (lambda: Inpainting.box((1, 8, 6), top=0, left=-1, height=1, width=1),
                       "left: expected an int in [0, 5], got -1"),
    "box left beyond": (lambda: Inpainting.box((1, 8, 6), top=0, left=6, height=1, width=1),
                        "left: expected an int in [0, 5], got 6"),
    "box height": (lambda: Inpainting.box((1, 8, 6), top=2, left=0, height=7, width=1),
                   "height: expected an int in [1, 6], got 7"),
    "box width": (lambda: Inpainting.box((1, 8, 6), top=0, left=1, height=1, width=6),
                  "width: expected an int in [1, 5], got 6"),
    "ct size": (lambda: SparseViewCT(1, 4), "image_size: expected an int >= 2, got 1"),
    "ct angles": (lambda: SparseViewCT(4, 0), "angles: expected an int >= 1, got 0"),
    "ct detectors": (lambda: SparseViewCT(4, 3, detector_count=0), "detector_count: expected an int >= 1, got 0"),
    "motion size": (lambda: motion_kernel(1, length=0.0, angle=0.0), "size: expected an int >= 3, got 1"),
    "motion length": (lambda: motion_kernel(5, length=4.5, angle=0.0),
                      "length: expected a number in [0, 4] for size 5, got 4.5"),
    "motion negative length": (lambda: motion_kernel(5, length=-0.1, angle=0.0),
                               "length: expected a number in [0, 4] for size 5, got -0.1"),
    "stem below": (lambda: SourceMask([-1], (4, 3)), "given: expected an int in [0, 3], got -1"),
    "stem ragged": (lambda: SourceMask([1, [2, 3]], (4, 3)),
                    "given: expected a sequence of stem indices (ints) or one bool per stem, got [1, [2, 3]]"),
    "stem none": (lambda: SourceMask([], (4, 3)), "given: expected at least one distinct stem index in [0, 3], got []"),
    "hdr pivot": (lambda: HDR((4,), pivot=float("inf")), "pivot: expected a finite number, got inf"),
    "hdr high value": (lambda: HDR((4,), high="1"), "high: expected a finite number, got '1'"),
    "gaussian size": (lambda: gaussian_kernel(1.0, 0), "size: expected an int >= 1, got 0"),
    "gaussian size type": (lambda: gaussian_kernel(1.0, 3.5), "size: expected an int >= 1, got 3.5"),
    "kernel nan": (lambda: normalize_kernel([[1.0, float("nan")]]), "kernel: expected finite values, got NaN or inf"),
    "kernel zeros": (lambda: normalize_kernel([[0.0, 0.0]], name="k.npy"), "k.npy: expected a kernel with positive sum, got all zeros"),
    "zero operator": (lambda: frobenius_noise_gain(4, 0.0), "operator: expected a nonzero operator, got trace(A^T A) = 0"),
    "blur shape": (lambda: Blur(torch.ones(3, 3), (8,)), "input_shape: expected a sequence of at least 2 positive ints, got (8,)"),
    "blur channels": (lambda: Blur(torch.ones(2, 3, 3), (3, 8, 8)),
                      "kernel: expected shape (kh, kw) or (C, kh, kw) with C = 3, got (2, 3, 3)"),
    "blur no channels": (lambda: Blur(torch.ones(2, 3, 3), (8, 8)),
                         "kernel: expected shape (kh, kw) or (C, kh, kw) with no channel dim in input_shape, got (2, 3, 3)"),
    "blur wide kernel": (lambda: Blur(torch.ones(3, 9), (1, 9, 8)),
                         "kernel: expected a kernel no larger than the image (9, 8), got (3, 9)"),
    "blur tol": (lambda: Blur(torch.ones(3, 3), (1, 8, 8), tol=1.0), "tol: expected a number in [0, 1), got 1.0"),
    "blur tol type": (lambda: Blur(torch.ones(3, 3), (1, 8, 8), tol="0"), "tol: expected a finite number, got '0'"),
    "cs shape": (lambda: CompressedSensing((0,), 1), "input_shape: expected a sequence of at least 1 positive ints, got (0,)"),
    "cs m": (lambda: CompressedSensing((4, 4), 0), "m: expected an int in [1, 16], got 0"),
    "matrix values": (lambda: MatrixOperator([[1.0, float("nan")]]), "matrix: expected finite values, got NaN or inf"),
    "matrix shape": (lambda: MatrixOperator(torch.ones(2, 4), input_shape=(2, 0)),
                     "input_shape: expected a sequence of at least 1 positive ints, got (2, 0)"),
    "matrix rcond": (lambda: MatrixOperator(torch.ones(2, 4), rcond=1.0), "rcond: expected a number in [0, 1), got 1.0"),
    "matrix rcond type": (lambda: MatrixOperator(torch.ones(2, 4), rcond=None), "rcond: expected a finite number, got None"),
    "stems shape": (lambda: SumOfSources((0, 3)), "input_shape: expected a sequence of at least 1 positive ints, got (0, 3)"),
    "nonlinear gain": (lambda: NonlinearOperator(torch.tanh, (3,), noise_gain=0), "noise_gain: expected a positive finite number, got 0.0"),
    "nonlinear shape": (lambda: NonlinearOperator(torch.tanh, (3, -2)), "input_shape: expected a sequence of at least 1 positive ints, got (3, -2)"),
    "nonlinear tol": (lambda: NonlinearOperator(torch.tanh, (3,), project_tol=-1e-4), "project_tol: expected a positive finite number, got -0.0001"),
    "nonlinear iterations": (lambda: NonlinearOperator(torch.tanh, (3,), project_max_iter=0), "project_max_iter: expected an int >= 1, got 0"),
    "upper bound only": (lambda: as_int(7, "n", maximum=5), "n: expected an int <= 5, got 7"),
    "no bounds": (lambda: as_int(2.5, "n"), "n: expected an int, got 2.5"),
    "random fraction type": (lambda: Inpainting.random((4,), "half"), "fraction_observed: expected a finite number, got 'half'"),
    "mask values": (lambda: Inpainting([1.0, float("nan")]), "mask: expected finite values, got NaN or inf"),
    "mask type": (lambda: Inpainting(object()), "mask: expected a real tensor or array, got object"),
    "mask shape": (lambda: Inpainting([1.0, 0.0], input_shape=(0,)), "input_shape: expected a sequence of at least 1 positive ints, got (0,)"),
    "box shape": (lambda: Inpainting.box((8,), top=0, left=0, height=1, width=1),
                  "input_shape: expected a sequence of at least 2 positive ints, got (8,)"),
    "motion angle": (lambda: motion_kernel(5, length=1.0, angle=float("inf")), "angle: expected a finite number, got inf"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_argument_is_named_with_its_bounds(case: str) -> None:
    build, message = CASES[case]
    with pytest.raises((ValueError, TypeError)) as caught:
        build()
    assert str(caught.value) == message


def test_the_edges_of_the_documented_ranges_are_accepted() -> None:
    """A box at the far corner, a one-bin detector, a zero-length and a full-length motion kernel are valid."""
    corner = Inpainting.box((1, 8, 6), top=7, left=5, height=1, width=1)
    expected = torch.ones(1, 8, 6)
    expected[0, 7, 5] = 0
    torch.testing.assert_close(corner.mask, expected)
    assert corner.input_shape == (1, 8, 6)
    assert SparseViewCT(2, 1, detector_count=1).output_shape == (1, 1, 1)
    assert float(motion_kernel(3, length=0.0, angle=0.0)[1, 1]) == pytest.approx(1.0)
    assert motion_kernel(5, length=4.0, angle=0.0).shape == (5, 5)
    torch.testing.assert_close(normalize_kernel([[0.25, 0.25]]), torch.tensor([[0.5, 0.5]]))   # a sum below 1 is fine
    assert Blur(torch.ones(3, 8), (1, 9, 8), tol=0.0).kernel_shape == (3, 8)          # as wide as the image
    assert MatrixOperator(torch.eye(3), rcond=0.0).input_shape == (3,)
    assert NonlinearOperator(torch.tanh, (3,), noise_gain=2.5).noise_gain() == 2.5
    # the shortest segments keep two samples, 0.1 pixel apart: columns 0.95 and 1.05 of a 3 x 3 kernel
    torch.testing.assert_close(motion_kernel(3, length=0.1, angle=0.0)[1], torch.tensor([0.025, 0.95, 0.025]))
