"""Dense SVDs of linear operators given as functions: ``LinearOperator.dense()``, ``spectral()``, ``pinv``."""

import pytest
import torch

from projdiff.operators import Inpainting, LinearOperator, MatrixOperator
from projdiff.operators.dense import DENSE_SPECTRAL_LIMIT, dense_matrix

MATRIX = torch.randn(5, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def by_function() -> LinearOperator:
    return LinearOperator(lambda x: x.flatten(1) @ MATRIX.T.to(x.dtype), input_shape=(3, 3))


def test_a_function_operator_has_the_singular_values_of_its_matrix():
    op = by_function()
    assert not op.tight
    torch.testing.assert_close(dense_matrix(op), MATRIX)
    expected = MatrixOperator(MATRIX, input_shape=(3, 3)).spectral().singular_values
    torch.testing.assert_close(op.spectral().singular_values, expected)


def test_the_dense_pinv_is_the_pseudo_inverse():
    op = by_function().double()
    y = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = (y @ torch.linalg.pinv(MATRIX).T).reshape(4, 3, 3)
    torch.testing.assert_close(op.pinv(y), expected)


def test_tight_and_large_operators_get_no_dense_decomposition():
    assert Inpainting(torch.ones(4)).spectral() is None
    assert LinearOperator(lambda x: 2 * x, (3,), frame_constant=4.0).spectral() is None
    large = LinearOperator(lambda x: x[..., ::2], (DENSE_SPECTRAL_LIMIT + 2,))
    assert large.dense() is None and large.spectral() is None


def test_the_decomposition_is_computed_once():
    calls = []

    def forward(x):
        calls.append(x.shape[0])
        return x.cumsum(-1)

    op = LinearOperator(forward, (6,))
    op.output_shape
    op.spectral()
    count = len(calls)
    op.spectral()
    op.pinv(torch.ones(1, 6))
    assert len(calls) == count


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)])
def test_modes_are_an_isometry(shape):
    op = LinearOperator(lambda x: x.flatten(1).cumsum(-1)[:, ::2], shape)
    spec = op.spectral()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(spec.from_modes(spec.to_modes(x)), x, atol=1e-5, rtol=0)


def test_dense_matrix_in_chunks_equals_the_whole():
    """Columns of the identity are pushed through the operator ``chunk`` at a time; any chunking gives the same matrix."""

    a = torch.randn(4, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    op = LinearOperator(lambda x: x @ a.T.to(x.dtype), (10,))
    for chunk in (3, 4, 256):
        torch.testing.assert_close(dense_matrix(op, chunk=chunk), a)


def test_trace_estimate_is_seeded_and_exact_for_a_diagonal():
    """Rademacher probes square to 1, so a diagonal matrix's trace comes out exactly; the same seed, the same value."""
    from projdiff.operators.linalg import trace_estimate

    d = torch.arange(1.0, 7.0)
    assert trace_estimate(lambda z: z * d, (6,)) == pytest.approx(21.0)
    dense = torch.randn(6, 6, generator=torch.Generator().manual_seed(1))
    first = trace_estimate(lambda z: z @ dense.T, (6,), probes=8)
    assert trace_estimate(lambda z: z @ dense.T, (6,), probes=8) == first
    assert trace_estimate(lambda z: z @ dense.T, (6,), probes=8, seed=1) != first
