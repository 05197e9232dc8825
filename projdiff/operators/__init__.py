"""Forward operators for inverse problems (see ``base`` for the contract and
``projdiff.testing.check_operator`` to test one)."""

from projdiff.operators.base import LinearOperator, Operator, Spectral
from projdiff.operators.blur import Blur
from projdiff.operators.colorization import Colorization
from projdiff.operators.compressed_sensing import CompressedSensing, walsh_hadamard
from projdiff.operators.custom import NonlinearOperator
from projdiff.operators.denoising import Denoising
from projdiff.operators.grayscale import GrayscaleObservation
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
    "GrayscaleObservation",
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
    "gaussian_kernel",
    "load_kernel",
    "motion_kernel",
    "walsh_hadamard",
]
