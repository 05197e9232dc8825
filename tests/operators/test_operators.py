"""Behaviour of each operator family (the generic contract lives in test_operator_contract.py)."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch

from projdiff.operators import (HDR, Blur, Colorization, CompressedSensing, Denoising, Inpainting, LinearOperator,
                                MatrixOperator, NonlinearOperator, PhaseRetrieval, SourceMask, SparseViewCT,
                                SumOfSources, SuperResolution, gaussian_kernel, load_kernel, motion_kernel,
                                walsh_hadamard)

# torch's forward-mode AD (used by Operator.project) loads TorchScript decompositions on first use.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def materialise(op: LinearOperator) -> torch.Tensor:
    """The operator as a dense float64 ``(m, n)`` matrix, from forward passes on the unit basis."""
    op64 = copy.deepcopy(op).double()
    n = math.prod(op.input_shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *op.input_shape)
    return op64(basis).reshape(n, -1).T


def materialise_adjoint(op: LinearOperator) -> torch.Tensor:
    op64 = copy.deepcopy(op).double()
    m = math.prod(op.output_shape)
    basis = torch.eye(m, dtype=torch.float64).reshape(m, *op.output_shape)
    return op64.adjoint(basis).reshape(m, -1)  # row i = A^T e_i, i.e. the matrix A itself


# -- inpainting --------------------------------------------------------------------------------------

def test_inpainting_forward_project_and_noise_gain():
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    op = Inpainting(mask)
    x, y = torch.randn(4, 2, 3, generator=gen(1)), torch.randn(4, 2, 3, generator=gen(2))
    torch.testing.assert_close(op(x), x * mask)
    torch.testing.assert_close(op.pinv(y), y * mask)
    torch.testing.assert_close(op.project(x, y), torch.where(mask.bool(), y, x))
    assert op.noise_gain() == 1.0


def test_inpainting_random_fraction_channels_and_reproducibility():
    op = Inpainting.random((3, 10, 8), 0.25, generator=gen(3))
    assert int(op.mask[0].sum()) == 20
    assert torch.equal(op.mask[0], op.mask[1]) and torch.equal(op.mask[0], op.mask[2])
    again = Inpainting.random((3, 10, 8), 0.25, generator=gen(3))
    assert torch.equal(op.mask, again.mask)
    independent = Inpainting.random((3, 10, 8), 0.5, generator=gen(3), shared_channels=False)
    assert int(independent.mask.sum()) == 120
    assert not torch.equal(independent.mask[0], independent.mask[1])


def test_inpainting_box():
    op = Inpainting.box((2, 6, 7), top=1, left=2, height=3, width=4)
    expected = torch.ones(2, 6, 7)
    expected[:, 1:4, 2:6] = 0
    assert torch.equal(op.mask, expected)


def test_inpainting_per_item_mask_matches_single_masks():
    masks = (torch.rand(3, 2, 4, 5, generator=gen(4)) < 0.5).float()
    op = Inpainting(masks, input_shape=(2, 4, 5))
    assert op.per_item
    x = torch.randn(6, 3, 2, 4, 5, generator=gen(5))
    y = op(x)
    for b in range(3):
        torch.testing.assert_close(y[:, b], Inpainting(masks[b])(x[:, b]))
    with pytest.raises(ValueError, match=r"^x: .*last batch dimension"):
        op(torch.randn(3, 4, 2, 4, 5))


# -- super-resolution and colorization ---------------------------------------------------------------

def test_super_resolution_constant_and_replication():
    op = SuperResolution((2, 9, 12), 3)
    assert op.output_shape == (2, 3, 4)
    y = op(torch.full((1, 2, 9, 12), 0.7))
    torch.testing.assert_close(y, torch.full((1, 2, 3, 4), 0.7))
    small = torch.randn(2, 2, 3, 4, generator=gen(6))
    torch.testing.assert_close(op.pinv(small), small.repeat_interleave(3, -2).repeat_interleave(3, -1))
    assert op.frame_constant == pytest.approx(1 / 9) and op.noise_gain() == pytest.approx(3.0)


def test_colorization_recovers_gray_image():
    op = Colorization((3, 5, 4))
    gray = torch.randn(2, 1, 5, 4, generator=gen(7))
    rgb = gray.expand(2, 3, 5, 4)
    torch.testing.assert_close(op(rgb), gray)
    torch.testing.assert_close(op.pinv(op(rgb)), rgb)
    torch.testing.assert_close(materialise(op) @ materialise(op).T, torch.eye(20, dtype=torch.float64) / 3)


# -- blur ----------------------------------------------------------------------------------------------

def test_blur_of_delta_is_the_centred_kernel():
    kernel = torch.rand(5, 3, generator=gen(8), dtype=torch.float64)  # asymmetric: catches flips and shifts
    op = Blur(kernel, (1, 12, 11)).double()
    delta = torch.zeros(1, 1, 12, 11, dtype=torch.float64)
    delta[..., 6, 4] = 1.0
    expected = torch.zeros(12, 11, dtype=torch.float64)
    expected[6 - 2: 6 + 3, 4 - 1: 4 + 2] = kernel
    torch.testing.assert_close(op(delta)[0, 0], expected, rtol=0, atol=1e-6)


def test_blur_matches_scipy_wrap_convolution_per_channel():
    kernels = torch.stack([motion_kernel(7, generator=gen(s)) for s in range(3)])
    op = Blur(kernels, (3, 15, 13)).double()
    x = torch.randn(2, 3, 15, 13, generator=gen(9), dtype=torch.float64)
    expected = np.stack([[scipy.ndimage.convolve(x[b, c].numpy(), kernels[c].double().numpy(), mode="wrap")
                          for c in range(3)] for b in range(2)])
    np.testing.assert_allclose(op(x).numpy(), expected, atol=1e-6)


def test_blur_truncation_pinv_and_noise_gain():
    op = Blur(torch.tensor([[0.5, 0.5]]), (1, 6, 8))  # zero response at the horizontal Nyquist frequency
    spec = op.spectral()
    assert spec.singular_values.shape == (1, 6, 8)
    assert int((spec.singular_values == 0).sum()) == 6
    x = torch.randn(3, 1, 6, 8, generator=gen(10), dtype=torch.float64)
    op64 = copy.deepcopy(op).double()
    modes = spec.to_modes(x)
    kept = spec.from_modes(torch.where(spec.singular_values.double() > 0, modes, torch.zeros_like(modes)))
    torch.testing.assert_close(op64.pinv(op64(x)), kept)
    a = materialise(op)
    assert op.noise_gain() == pytest.approx(math.sqrt(a.shape[0] / float((a**2).sum())), rel=1e-6)


def test_gaussian_and_motion_kernels():
    g = gaussian_kernel(1.2)
    assert g.shape == (9, 9) and float(g.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(g, g.T)
    torch.testing.assert_close(g, g.flip(0))
    m = motion_kernel(9, generator=gen(11))
    assert m.shape == (9, 9) and float(m.sum()) == pytest.approx(1.0) and bool((m >= 0).all())
    assert torch.equal(m, motion_kernel(9, generator=gen(11)))
    assert not torch.equal(m, motion_kernel(9, generator=gen(12)))
    horizontal = motion_kernel(7, length=4.0, angle=0.0)
    assert float(horizontal[3].sum()) == pytest.approx(1.0) and float(horizontal[3, 1:6].min()) > 0


def test_kernel_values_against_their_formulas():
    """Gaussian: ``exp(-r^2 / (2 sigma^2))`` at pixel centres; motion: the bilinear splat of 0.1-pixel samples.

    A horizontal segment of length 4 through the centre of a 5 x 5 kernel has 41 samples at columns
    0, 0.1, ..., 4 of the middle row: the end pixels collect 1 + 0.9 + ... + 0.1 = 5.5 samples' weight,
    the three inner ones 10 each; a vertical one (90 degrees, rows pointing down) is its transpose, and
    180 degrees is the same segment.
    """
    r = np.arange(5) - 2.0
    g = np.exp(-(r**2) / (2 * 1.5**2))
    torch.testing.assert_close(gaussian_kernel(1.5, 5), torch.tensor(np.outer(g, g) / np.outer(g, g).sum(),
                                                                       dtype=torch.float32))
    profile = np.array([5.5, 10.0, 10.0, 10.0, 5.5]) / 41
    horizontal = np.zeros((5, 5))
    horizontal[2] = profile
    np.testing.assert_allclose(motion_kernel(5, length=4.0, angle=0.0).numpy(), horizontal, atol=1e-6)
    np.testing.assert_allclose(motion_kernel(5, length=4.0, angle=90.0).numpy(), horizontal.T, atol=1e-6)
    np.testing.assert_allclose(motion_kernel(5, length=4.0, angle=180.0).numpy(), horizontal, atol=1e-6)
    # Any angle: a bilinear splat keeps each sample's mean position and adds f (1 - f) of variance per
    # axis (f its fractional part), with no cross term; the samples lie every 0.1 pixel along the segment.
    length, angle, size = 3.3, 30.0, 7
    t = np.linspace(-length / 2, length / 2, 34)
    cols = 3 + t * np.cos(np.radians(angle))
    rows = 3 - t * np.sin(np.radians(angle))
    frac = lambda v: v - np.floor(v)  # noqa: E731
    k = motion_kernel(size, length=length, angle=angle).double().numpy()
    grid_r, grid_c = np.mgrid[:size, :size] - 3.0
    assert (k * grid_c).sum() == pytest.approx((cols - 3).mean(), abs=1e-6)
    assert (k * grid_r).sum() == pytest.approx((rows - 3).mean(), abs=1e-6)
    assert (k * grid_c**2).sum() == pytest.approx(((cols - 3) ** 2 + frac(cols) * (1 - frac(cols))).mean(), abs=1e-6)
    assert (k * grid_r**2).sum() == pytest.approx(((rows - 3) ** 2 + frac(rows) * (1 - frac(rows))).mean(), abs=1e-6)
    assert (k * grid_r * grid_c).sum() == pytest.approx(((rows - 3) * (cols - 3)).mean(), abs=1e-6)


def test_load_kernel(tmp_path):
    from PIL import Image

    raw = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.save(tmp_path / "k.npy", raw)
    torch.testing.assert_close(load_kernel(tmp_path / "k.npy"), torch.tensor(raw / raw.sum(), dtype=torch.float32))
    Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).save(tmp_path / "k.png")
    torch.testing.assert_close(load_kernel(tmp_path / "k.png"), torch.tensor([[0.0, 0.5], [0.5, 0.0]]))
    np.save(tmp_path / "neg.npy", -raw)
    with pytest.raises(ValueError, match="non-negative"):
        load_kernel(tmp_path / "neg.npy")
    np.save(tmp_path / "zero.npy", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="all zeros"):
        load_kernel(tmp_path / "zero.npy")


# -- compressed sensing, denoising ---------------------------------------------------------------------

def test_walsh_hadamard_matches_scipy():
    x = torch.randn(3, 16, generator=gen(13), dtype=torch.float64)
    expected = x @ torch.tensor(scipy.linalg.hadamard(16), dtype=torch.float64).T
    torch.testing.assert_close(walsh_hadamard(x), expected)


@pytest.mark.parametrize("basis,shape", [("hadamard", (2, 4, 8)), ("random", (3, 5, 7))])
def test_compressed_sensing_rows_are_orthonormal(basis, shape):
    op = CompressedSensing(shape, 19, basis=basis, generator=gen(14))
    a = materialise(op)
    assert a.shape == (19, math.prod(shape))
    torch.testing.assert_close(a @ a.T, torch.eye(19, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(materialise_adjoint(op), a, atol=1e-6, rtol=0)
    again = CompressedSensing(shape, 19, basis=basis, generator=gen(14))
    torch.testing.assert_close(materialise(again), a)


def test_compressed_sensing_hadamard_needs_power_of_two():
    with pytest.raises(ValueError, match=r"^input_shape: .*power of two.*basis='random'"):
        CompressedSensing((3, 5, 7), 10)


def test_denoising_is_identity():
    op = Denoising((2, 3))
    x, y = torch.randn(4, 2, 3, generator=gen(15)), torch.randn(4, 2, 3, generator=gen(16))
    torch.testing.assert_close(op(x), x)
    torch.testing.assert_close(op.project(x, y), y)
    assert op.noise_gain() == 1.0


# -- phase retrieval -----------------------------------------------------------------------------------

def test_phase_retrieval_shape_sign_invariance_and_fixed_point():
    op = PhaseRetrieval((2, 9, 7), oversampling=1.5)
    assert op.output_shape == (2, 14, 10)  # round(13.5) = 14 (round half to even), round(10.5) = 10
    x = torch.rand(3, 2, 9, 7, generator=gen(17), dtype=torch.float64)
    op64 = op.double()
    y = op64(x)
    assert tuple(y.shape) == (3, 2, 14, 10)
    torch.testing.assert_close(op64(-x), y)
    torch.testing.assert_close(op64.project(x, y), x)


def test_phase_retrieval_noise_gain_monte_carlo():
    """Std of the ER-step perturbation caused by noise sigma on y, per unit sigma, inside the support."""
    op = PhaseRetrieval((1, 16, 16), oversampling=2.0).double()
    x = torch.randn(1, 1, 16, 16, generator=gen(18), dtype=torch.float64)
    y = op(x)
    sigma = 1e-3
    noise = torch.randn(256, 1, 1, 32, 32, generator=gen(19), dtype=torch.float64)
    delta = op.project(x, y + sigma * noise) - op.project(x, y)
    measured = float(delta.std()) / sigma
    assert measured == pytest.approx(op.noise_gain(), rel=0.1)
    assert op.noise_gain() == pytest.approx(1 / math.sqrt(2))


# -- HDR -----------------------------------------------------------------------------------------------

def test_hdr_projection_is_feasible_sign_aware_and_nearest():
    op = HDR((200,), gain=3.0, pivot=0.5, low=0.0, high=1.0)
    truth = torch.rand(2, 200, generator=gen(20))
    y = op(truth)
    assert bool(((y == 0) | (y == 1)).any())
    x = torch.rand(2, 200, generator=gen(21)) * 2 - 0.5
    p = op.project(x, y)
    torch.testing.assert_close(op(p), y)
    t_high, t_low = 0.5 + 0.5 / 3, 0.5 - 0.5 / 3
    assert bool((p[y >= 1] >= t_high - 1e-7).all()) and bool((p[y <= 0] <= t_low + 1e-7).all())
    # Saturated entries already on the right side stay where they are.
    already = (y >= 1) & (x >= t_high) | (y <= 0) & (x <= t_low)
    assert torch.equal(p[already], x[already])
    # Euclidean projection: no feasible point (e.g. the truth) is closer to x.
    assert bool(((p - x).norm(dim=-1) <= (truth - x).norm(dim=-1) + 1e-6).all())
    torch.testing.assert_close(op.project(p, y), p)
    assert op.noise_gain() == pytest.approx(1 / 3)
    # forward: pivot + gain (x - pivot), clipped to [low, high]
    small = HDR((5,), gain=3.0, pivot=0.5, low=0.0, high=1.0)
    torch.testing.assert_close(small(torch.tensor([0.5, 0.6, 0.45, 0.9, 0.1])), torch.tensor([0.5, 0.8, 0.35, 1.0, 0.0]))


# -- tomography ----------------------------------------------------------------------------------------

def test_ct_disc_projection_is_chord_length_at_every_angle():
    n, radius = 64, 20.0
    op = SparseViewCT(n, 12)
    centre = (n - 1) / 2
    rows, cols = np.mgrid[:n, :n]
    disc = torch.tensor(((rows - centre) ** 2 + (cols - centre) ** 2 <= radius**2).astype(np.float32))
    sinogram = op(disc[None, None])[0, 0].numpy()
    offsets = np.arange(op.detector_count) - (op.detector_count - 1) / 2
    inside = np.abs(offsets) <= 0.8 * radius
    chord = 2 * np.sqrt(radius**2 - offsets[inside] ** 2)
    assert sinogram.shape == (12, op.detector_count) and op.detector_count % 2 == 1
    np.testing.assert_allclose(sinogram[:, inside], np.broadcast_to(chord, (12, chord.size)), rtol=0.05)


def test_ct_geometry_of_one_pixel_at_the_image_edge():
    """A pixel at column 0, row 1 of a 7 x 7 image lands, whole, in the documented detector bin.

    At 0 degrees the rays run along the columns and bin ``d`` sees column ``centre + d - (n_det - 1) / 2``;
    at 90 degrees (y up) it sees row ``centre - (d - (n_det - 1) / 2)``. A ray through a pixel centre
    integrates its bilinear tent to exactly 1, its neighbours see nothing. Integer angle counts are
    evenly spaced in [0, 180); the default detector count is ``ceil(n sqrt 2)`` rounded up to odd.
    """
    n, row, col = 7, 1, 0
    op = SparseViewCT(n, 4)
    np.testing.assert_allclose(np.asarray(op.angles, dtype=float), [0.0, 45.0, 90.0, 135.0])
    image = torch.zeros(1, 1, n, n, dtype=torch.float64)
    image[0, 0, row, col] = 1.0
    sinogram = op.double()(image)[0, 0].numpy()
    centre, middle = (n - 1) / 2, (op.detector_count - 1) / 2
    at_0, at_90 = np.zeros(op.detector_count), np.zeros(op.detector_count)
    at_0[round(col - centre + middle)] = 1.0
    at_90[round(centre - row + middle)] = 1.0
    np.testing.assert_allclose(sinogram[0], at_0, atol=1e-9)
    np.testing.assert_allclose(sinogram[2], at_90, atol=1e-9)
    assert [SparseViewCT(size, 2).detector_count for size in (3, 4, 5)] == [5, 7, 9]
    assert SparseViewCT(n, [30.0]).output_shape == (1, 1, op.detector_count)          # one given angle is enough


def test_printed_operators_show_their_configuration():
    """``repr`` names what was built: the kept rank of a matrix, the CT geometry (7 px: 11 detector bins), the
    observed share of a mask, the HDR curve."""
    assert repr(MatrixOperator(torch.tensor([[1.0, 0, 0], [0, 0, 0]]))) == \
        "MatrixOperator(input_shape=(3,), m=2, rank=1, rcond=1e-06)"
    assert repr(SparseViewCT(7, 4)) == "SparseViewCT(image_size=7, n_angles=4, detector_count=11)"
    assert repr(SparseViewCT(6, [0.0, 90.0], detector_count=3)) == "SparseViewCT(image_size=6, n_angles=2, detector_count=3)"
    assert repr(Inpainting(torch.tensor([1.0, 0, 1, 0]))) == "Inpainting(input_shape=(4,), per_item=False, observed=0.500)"
    assert repr(HDR((4,), gain=2.5, pivot=0.5)) == "HDR(input_shape=(4,), gain=2.5, pivot=0.5, low=-1, high=1)"


def test_ct_forward_mode_derivative_is_the_operator():
    """``torch.func.jvp`` through the sparse product: the tangent of a linear map is the map of the tangent."""
    op = SparseViewCT(6, [0.0, 60.0, 120.0]).double()
    g = torch.Generator().manual_seed(3)
    x, v = torch.randn(2, 1, 6, 6, generator=g, dtype=torch.float64), torch.randn(2, 1, 6, 6, generator=g, dtype=torch.float64)
    value, tangent = torch.func.jvp(op, (x,), (v,))
    torch.testing.assert_close(value, op(x))
    torch.testing.assert_close(tangent, op(v))


def test_ct_adjoint_is_exact_transpose_and_autograd_works():
    op = SparseViewCT(10, [0.0, 33.0, 90.0, 151.5])
    torch.testing.assert_close(materialise_adjoint(op), materialise(op), rtol=0, atol=1e-6)
    x = torch.randn(2, 1, 10, 10, generator=gen(22), requires_grad=True)
    v = torch.randn(2, *op.output_shape, generator=gen(23))
    (op(x) * v).sum().backward()
    torch.testing.assert_close(x.grad, op.adjoint(v))
    _, vjp = torch.func.vjp(op.forward, x.detach())
    torch.testing.assert_close(vjp(v)[0], op.adjoint(v))
    a = materialise(op)
    assert op.noise_gain() == pytest.approx(math.sqrt(a.shape[0] / float((a**2).sum())), rel=1e-5)


def test_ct_build_is_one_vectorised_pass_per_angle_and_sparse(monkeypatch):
    """Replaces a wall-clock bound (< 2 s, fragile on a shared machine) by operation counts: the projector is
    built with one vectorised pass per angle (not per ray or pixel) and stores O(n) entries per ray."""
    import projdiff.operators.tomography as tomography

    passes = []
    real_cos = math.cos
    monkeypatch.setattr(tomography.math, "cos", lambda v: passes.append(v) or real_cos(v))
    op = SparseViewCT(64, 60)
    monkeypatch.undo()
    assert len(passes) == 60
    rays, samples = 60 * 91, 2 * math.ceil((64 * math.sqrt(2) / 2 + 1) / tomography.RAY_STEP) + 1
    nnz = op.forward_values.numel()
    assert nnz <= 4 * rays * samples and nnz < 0.03 * rays * 64 * 64      # bilinear samples; 2.6% of dense
    assert op.output_shape == (1, 60, 91)
    centre_ray = op(torch.ones(1, 1, 64, 64))[0, 0, 0, 45]
    assert float(centre_ray) == pytest.approx(64.0, rel=1e-3)  # chord through the square at angle 0


# -- sources -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [SumOfSources((4, 2, 9)), SourceMask([2, 0], (4, 2, 9)),
                                SourceMask([False, True, True, False], (4, 2, 9))])
def test_source_closed_forms_equal_generic_versions(op):
    generic = LinearOperator(op.forward, input_shape=op.input_shape)  # autograd adjoint, CG pinv
    op64, generic64 = op.double(), generic.double()
    x = torch.randn(3, *op.input_shape, generator=gen(24), dtype=torch.float64)
    y = torch.randn(3, *op.output_shape, generator=gen(25), dtype=torch.float64)
    for method in ("adjoint", "pinv"):
        torch.testing.assert_close(getattr(op64, method)(y), getattr(generic64, method)(y))
    torch.testing.assert_close(op64.project(x, y), generic64.project(x, y))


def test_sum_of_sources_projection_formula():
    op = SumOfSources((4, 11))
    x, y = torch.randn(2, 4, 11, generator=gen(26)), torch.randn(2, 11, generator=gen(27))
    torch.testing.assert_close(op.project(x, y), x + ((y - x.sum(-2)) / 4)[:, None])
    assert op.noise_gain() == pytest.approx(0.5)


def test_source_mask_bools_equal_indices():
    x = torch.randn(2, 4, 5, generator=gen(28))
    torch.testing.assert_close(SourceMask([True, False, True, False], (4, 5))(x), SourceMask([0, 2], (4, 5))(x))


# -- matrix and nonlinear ------------------------------------------------------------------------------

def test_matrix_operator_rank_deficient():
    m = torch.randn(6, 2, generator=gen(29), dtype=torch.float64) @ torch.randn(2, 10, generator=gen(30),
                                                                                dtype=torch.float64)
    op = MatrixOperator(m, input_shape=(2, 5)).double()
    spec = op.spectral()
    assert spec.singular_values.shape == (10,) and int((spec.singular_values > 0).sum()) == 2
    y = torch.randn(4, 6, generator=gen(31), dtype=torch.float64)
    expected = (y @ torch.linalg.pinv(m, rtol=1e-6).T).reshape(4, 2, 5)
    torch.testing.assert_close(op.pinv(y), expected)
    x = torch.randn(4, 2, 5, generator=gen(32), dtype=torch.float64)
    target = op(torch.randn(4, 2, 5, generator=gen(33), dtype=torch.float64))
    torch.testing.assert_close(op(op.project(x, target)), target)
    assert op.noise_gain() == pytest.approx(math.sqrt(6 / float((m.float().double() ** 2).sum())))


def test_nonlinear_operator_projection_reduces_residual():
    op = NonlinearOperator(lambda x: torch.tanh(x[:, :3]) + 0.1 * x[:, 3:] ** 2, (6,)).double()
    truth = torch.randn(2, 4, 6, generator=gen(34), dtype=torch.float64) * 0.5
    y = op(truth)
    x = truth + 0.1 * torch.randn(2, 4, 6, generator=gen(35), dtype=torch.float64)
    before = (op(x) - y).norm()
    after = (op(op.project(x, y)) - y).norm()
    assert float(after) < 1e-3 * float(before)


# -- bad inputs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("build,argument", [
    (lambda: Inpainting(torch.tensor([0.0, 0.5, 1.0])), "mask"),
    (lambda: Inpainting(torch.ones(2, 3), input_shape=(4,)), "mask"),
    (lambda: Inpainting.random((3, 4, 4), 1.5), "fraction_observed"),
    (lambda: Inpainting.box((1, 4, 4), 2, 0, 3, 1), "height"),
    (lambda: SuperResolution((3, 30, 31), 4), "factor"),
    (lambda: SuperResolution((3, 8, 8), 0), "factor"),
    (lambda: Blur(torch.ones(5, 5), (1, 4, 8)), "kernel"),
    (lambda: Blur(torch.ones(2, 3, 3), (3, 8, 8)), "kernel"),
    (lambda: gaussian_kernel(-1.0), "sigma"),
    (lambda: gaussian_kernel(1.0, size=4), "size"),
    (lambda: motion_kernel(5, length=9.0), "length"),
    (lambda: Colorization((4, 8, 8)), "input_shape"),
    (lambda: CompressedSensing((4, 4), 17), "m"),
    (lambda: CompressedSensing((4, 4), 3, basis="dct"), "basis"),
    (lambda: PhaseRetrieval((1, 8, 8), oversampling=0.5), "oversampling"),
    (lambda: HDR((4,), low=1.0, high=0.0), "high"),
    (lambda: HDR((4,), gain=0.0), "gain"),
    (lambda: SparseViewCT(16, 0), "angles"),
    (lambda: SparseViewCT(16, [[0.0, 1.0]]), "angles"),
    (lambda: SumOfSources((4,)), "input_shape"),
    (lambda: SourceMask([0, 4], (4, 3)), "given"),
    (lambda: SourceMask([1, 1], (4, 3)), "given"),
    (lambda: SourceMask([True, False], (4, 3)), "given"),
    (lambda: MatrixOperator(torch.ones(3, 6), input_shape=(2, 2)), "input_shape"),
    (lambda: NonlinearOperator("tanh", (3,)), "forward_fn"),
    (lambda: Denoising((3,))(torch.ones(2, 4)), "x"),
    (lambda: Colorization((3, 2, 2)).adjoint(torch.ones(3, 2, 2)), "y"),
    (lambda: CompressedSensing((8,), 3, generator=0), "generator"),
])
def test_bad_inputs_name_the_argument(build, argument):
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    message = str(info.value)
    assert message.startswith(f"{argument}: expected"), message
    assert "\n" not in message and ", got" in message


def test_grayscale_observation_of_a_blur_has_the_blurs_svd():
    """Modes V^T Q x plus two chroma coordinates per pixel: an orthonormal change of coordinates (round trip) with
    singular values s / sqrt 3 (Parseval: ||A x||^2 = sum (s_i z_i)^2); a tight degradation keeps the scalar path."""
    from projdiff.operators import Blur, GrayscaleObservation, Inpainting, gaussian_kernel

    op = GrayscaleObservation(Blur(gaussian_kernel(1.5), (1, 16, 16)))
    spectral = op.spectral()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    z = spectral.to_modes(x)
    assert torch.allclose(spectral.from_modes(z), x, atol=1e-12)
    assert spectral.singular_values.shape == (3, 16, 16) and not spectral.singular_values[1:].any()
    assert torch.allclose(op(x).pow(2).sum(), (spectral.singular_values * z).abs().pow(2).sum(), rtol=1e-4)
    tight = GrayscaleObservation(Inpainting(torch.ones(1, 8, 8)))
    assert tight.tight and tight.spectral() is None
    # A A^T = D D^T / 3, so the frame constant is D's over 3 and the noise gain sqrt(3) times D's (here exact:
    # sqrt(m / ||A||_F^2) with m = 64 pixels and ||A||_F^2 = 64 * 3 / 9).
    from projdiff.operators import SuperResolution

    framed = GrayscaleObservation(SuperResolution((1, 8, 8), 2))           # D D^T = I / 4
    assert framed.frame_constant == pytest.approx(1 / 12) and op.frame_constant is None
    assert framed.noise_gain() == pytest.approx(12**0.5) and tight.noise_gain() == pytest.approx(3**0.5)
    assert op.noise_gain() == pytest.approx(3**0.5 * Blur(gaussian_kernel(1.5), (1, 16, 16)).noise_gain())
    for shape in ((2, 8, 8), (1, 8)):
        message = f"degradation.input_shape: expected (1, H, W), got {shape}"
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            GrayscaleObservation(Inpainting(torch.ones(shape)))
