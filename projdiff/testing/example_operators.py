"""Small instances of every operator, for the contract test-suite and for quick experiments.

Sizes are deliberately odd and non-square wherever the operator allows, so that shape bugs
(transposed axes, wrong broadcasting) do not hide behind symmetry. All randomness comes from
fixed seeds, so each call returns identical operators.
"""

from __future__ import annotations

import torch

from projdiff.operators.base import LinearOperator, Operator
from projdiff.operators.blur import Blur
from projdiff.operators.colorization import Colorization
from projdiff.operators.compressed_sensing import CompressedSensing
from projdiff.operators.custom import NonlinearOperator
from projdiff.operators.denoising import Denoising
from projdiff.operators.grayscale import GrayscaleObservation
from projdiff.operators.hdr import HDR
from projdiff.operators.inpainting import Inpainting
from projdiff.operators.kernels import gaussian_kernel, motion_kernel
from projdiff.operators.matrix import MatrixOperator
from projdiff.operators.phase_retrieval import PhaseRetrieval
from projdiff.operators.sources import SourceMask, SumOfSources
from projdiff.operators.super_resolution import SuperResolution
from projdiff.operators.tomography import SparseViewCT


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _smooth_nonlinear(x: torch.Tensor) -> torch.Tensor:
    """``(N, 5, 6) -> (N, 4)``: row sums of ``tanh(x) + 0.1 x^2`` of the first four rows."""
    return (torch.tanh(x) + 0.1 * x**2)[:, :4].sum(dim=-1)


def example_operators() -> dict[str, Operator]:
    """Small instances of every operator, keyed by a descriptive name.

    All parameters are shared by the items of a batch (no per-item masks), so each operator
    accepts any batch size; see ``example_per_item_operators`` for per-item parameters.
    """
    rank_deficient = torch.randn(7, 3, generator=_generator(6)) @ torch.randn(3, 12, generator=_generator(7))
    per_channel = torch.stack([gaussian_kernel(0.6, 3), motion_kernel(3, length=2.0, angle=30.0),
                               torch.tensor([[0.0, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]])])
    return {
        "inpainting_random": Inpainting.random((3, 12, 10), 0.4, generator=_generator(1)),
        "inpainting_random_per_entry": Inpainting.random((2, 7, 9), 0.5, generator=_generator(2),
                                                        shared_channels=False),
        "inpainting_box": Inpainting.box((1, 9, 11), 2, 3, 4, 5),
        "super_resolution_x2": SuperResolution((3, 12, 10), 2),
        "super_resolution_x3": SuperResolution((2, 9, 6), 3),
        "blur_gaussian": Blur(gaussian_kernel(0.7), (3, 12, 10)),
        "blur_per_channel": Blur(per_channel, (3, 11, 8)),
        "blur_truncated_spectrum": Blur(gaussian_kernel(1.5), (2, 16, 13)),  # about half the modes cut
        "colorization": Colorization((3, 12, 10)),
        "grayscale_super_resolution": GrayscaleObservation(SuperResolution((1, 8, 6), 2)),
        "grayscale_inpainting": GrayscaleObservation(Inpainting.random((1, 7, 9), 0.5, generator=_generator(8))),
        "grayscale_blur": GrayscaleObservation(Blur(gaussian_kernel(0.7), (1, 9, 7))),
        "compressed_sensing_hadamard": CompressedSensing((2, 8, 4), 23, generator=_generator(3)),
        "compressed_sensing_random": CompressedSensing((3, 5, 7), 40, basis="random", generator=_generator(4)),
        "denoising": Denoising((3, 7, 5)),
        "phase_retrieval": PhaseRetrieval((2, 9, 7), oversampling=2.0),
        "hdr": HDR((3, 12, 10), gain=2.0),
        "hdr_unit_range": HDR((1, 8, 5), gain=3.0, pivot=0.5, low=0.0, high=1.0),
        "sparse_view_ct": SparseViewCT(12, 5, detector_count=13),
        "sum_of_sources": SumOfSources((4, 30)),
        "source_mask_indices": SourceMask([3, 0], (4, 2, 15)),
        "source_mask_bools": SourceMask([True, False, True], (3, 25)),
        "matrix_rank_deficient": MatrixOperator(rank_deficient, input_shape=(3, 4)),
        "nonlinear": NonlinearOperator(_smooth_nonlinear, (5, 6), noise_gain=0.5),
        # Function-defined operators: strided subsampling and scaling with the adjoint by autograd;
        # the cumulative sum with its explicit adjoint, the reversed cumulative sum.
        "linear_autograd_adjoint": LinearOperator(lambda x: 0.5 * x[..., ::2, ::3], input_shape=(2, 9, 10)),
        "linear_explicit_adjoint": LinearOperator(
            lambda x: torch.cumsum(x, dim=-1), input_shape=(7,),
            adjoint_fn=lambda y: torch.flip(torch.cumsum(torch.flip(y, dims=(-1,)), dim=-1), dims=(-1,))),
    }


def example_per_item_operators(batch: int = 3) -> dict[str, Operator]:
    """Operators whose parameters carry one entry per item (leading dimension ``batch``).

    They accept inputs ``(*lead, batch, *input_shape)``: the parameter's leading dimension
    broadcasts against the last batch dimension of ``x``.
    """
    masks = (torch.rand(batch, 1, 6, 5, generator=_generator(5)) < 0.5).float()
    return {"inpainting_per_item": Inpainting(masks, input_shape=(3, 6, 5))}
