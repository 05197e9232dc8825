"""Forward operators for inverse problems (see ``base`` for the contract and ``checks`` to test one)."""

from projdiff.operators.base import LinearOperator, Operator, Spectral
from projdiff.operators.blur import Blur
from projdiff.operators.checks import check_operator
from projdiff.operators.colorization import Colorization
from projdiff.operators.compressed_sensing import CompressedSensing, walsh_hadamard
from projdiff.operators.custom import NonlinearOperator
from projdiff.operators.denoising import Denoising
from projdiff.operators.examples import example_operators, example_per_item_operators
from projdiff.operators.hdr import HDR
from projdiff.operators.inpainting import Inpainting
from projdiff.operators.kernels import gaussian_kernel, load_kernel, motion_kernel
from projdiff.operators.matrix import MatrixOperator
from projdiff.operators.phase_retrieval import PhaseRetrieval
from projdiff.operators.sources import SourceMask, SumOfSources
from projdiff.operators.super_resolution import SuperResolution
from projdiff.operators.tomography import SparseViewCT

__all__ = [
    "Blur",
    "Colorization",
    "CompressedSensing",
    "Denoising",
    "HDR",
    "Inpainting",
    "LinearOperator",
    "MatrixOperator",
    "NonlinearOperator",
    "Operator",
    "PhaseRetrieval",
    "SourceMask",
    "Spectral",
    "SparseViewCT",
    "SumOfSources",
    "SuperResolution",
    "check_operator",
    "example_operators",
    "example_per_item_operators",
    "gaussian_kernel",
    "load_kernel",
    "motion_kernel",
    "walsh_hadamard",
]
