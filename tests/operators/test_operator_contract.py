"""The operator contract, run on every operator of the example registry."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from projdiff.testing import check_operator, example_operators, example_per_item_operators

# torch's forward-mode AD (used by Operator.project) loads TorchScript decompositions on first use.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = example_operators()
PER_ITEM = example_per_item_operators(batch=3)
ALL = {**OPERATORS, **PER_ITEM}


@pytest.mark.parametrize("name", sorted(OPERATORS))
@settings(max_examples=5, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3))
def test_check_operator(name: str, seed: int, batch: int) -> None:
    check_operator(OPERATORS[name], batch=batch, seed=seed)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ALL))
def test_two_leading_batch_dims(name: str) -> None:
    """``(2, 3, *input_shape)`` inputs: every method acts item by item along the leading dims.

    Per-item operators (one mask per item) broadcast their parameter against the last batch
    dimension, so slicing the first dimension leaves a valid ``(3, *input_shape)`` input.
    """
    op = ALL[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, *op.input_shape, generator=g)
    y = op(x)
    assert tuple(y.shape) == (2, 3, *op.output_shape)
    target = op(torch.randn(3, *op.input_shape, generator=g))  # broadcasts against (2, 3)
    p = op.project(x, target)
    assert p.shape == x.shape
    for k in range(2):
        _close(y[k], op(x[k]))
        _close(p[k], op.project(x[k], target))
    assert float(op.noise_gain()) > 0
    if not op.linear:
        return
    v = torch.randn(2, 3, *op.output_shape, generator=g)
    for method in (op.adjoint, op.pinv):
        out = method(v)
        assert tuple(out.shape) == (2, 3, *op.input_shape)
        for k in range(2):
            _close(out[k], method(v[k]))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_no_batch_dims_and_float64_inputs(name: str) -> None:
    """A bare ``input_shape`` tensor works, and float64 inputs run on the float32 operator unchanged."""
    op = OPERATORS[name]
    x = torch.randn(2, *op.input_shape, generator=torch.Generator().manual_seed(1))
    y = op(x)
    _close(op(x[0]), y[0])
    y64 = op(x.double())
    assert y64.dtype == torch.float64
    _close(y64.float(), y)
    _close(op.project(x[0].double(), y[1].double()).float(), op.project(x[0], y[1]))
    if op.linear:
        assert op.adjoint(y[0].double()).dtype == torch.float64
        _close(op.adjoint(y[0]), op.adjoint(y)[0])


WRONG_ADJOINT = """
import torch
from projdiff.operators import LinearOperator
from projdiff.testing import OperatorContractError, check_operator
op = LinearOperator(lambda x: torch.cumsum(x, -1), (5,), lambda y: y)
try:
    check_operator(op)
except OperatorContractError as err:
    print("refused:", err)
"""


def test_a_wrong_adjoint_is_refused_even_under_python_optimisations():
    """``check_operator`` raises a named error, not ``assert``, so ``python -O`` does not skip the checks."""
    out = subprocess.run([sys.executable, "-O", "-c", WRONG_ADJOINT], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "refused: LinearOperator: adjoint is not the transpose of forward" in out.stdout


def _refusal(call) -> str:
    with pytest.raises((ValueError, TypeError)) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_a_wrong_shape_is_refused_naming_the_argument(name: str) -> None:
    """Every method refuses a tensor of the wrong trailing shape, or no tensor, with ``"<argument>: expected"``.

    ``x`` is what ``forward`` and ``project`` take in input space; ``y`` what ``adjoint``, ``pinv`` and
    ``project`` take in output space. The message is the user's only clue which one was wrong.
    """
    op = OPERATORS[name]
    x = torch.randn(2, *op.input_shape, generator=torch.Generator().manual_seed(2))
    y = op(x)
    bad_x = torch.zeros(2, *op.input_shape[:-1], op.input_shape[-1] + 1)
    bad_y = torch.zeros(2, *op.output_shape[:-1], op.output_shape[-1] + 1)
    assert _refusal(lambda: op(bad_x)).startswith("x: expected")
    assert _refusal(lambda: op(x.tolist())).startswith("x: expected a torch.Tensor")
    assert _refusal(lambda: op.project(bad_x, y)).startswith("x: expected")
    if not op.linear:
        return
    for method in (op.adjoint, op.pinv):
        assert _refusal(lambda: method(bad_y)).startswith("y: expected"), method.__name__
        assert _refusal(lambda: method(y.tolist())).startswith("y: expected a torch.Tensor"), method.__name__


def _frame_cases():
    from projdiff.operators import (Colorization, CompressedSensing, Denoising, SourceMask, SumOfSources,
                                    SuperResolution)

    g = torch.Generator().manual_seed(0)
    return {"colorization": (Colorization((3, 4, 4)), 1 / 3), "denoising": (Denoising((2, 3)), 1.0),
            "compressed sensing": (CompressedSensing((1, 4, 4), 6, generator=g), 1.0),
            "sum of sources": (SumOfSources((4, 5)), 4.0), "source mask": (SourceMask([2, 0], (3, 5)), 1.0),
            "super-resolution": (SuperResolution((1, 6, 6), 3), 1 / 9)}


@pytest.mark.parametrize("name", sorted(_frame_cases()))
def test_tight_operators_state_their_frame_constant(name: str) -> None:
    """``frame_constant = c`` promises ``A A^T = c I`` (it drives ``pinv``, ``gram_solve`` and the noise gain
    ``1 / sqrt(c)``); checked against the value worked out by hand and against ``A A^T`` applied to a basis."""
    op, c = _frame_cases()[name]
    assert op.frame_constant == pytest.approx(c) and op.tight
    assert op.noise_gain() == pytest.approx(c**-0.5)
    m = math.prod(op.output_shape)
    basis = torch.eye(m, dtype=torch.float64).reshape(m, *op.output_shape)
    gram = op.double()(op.double().adjoint(basis)).reshape(m, m)
    torch.testing.assert_close(gram, c * torch.eye(m, dtype=torch.float64))


def test_a_linear_operator_without_a_forward_says_which_method_is_missing():
    from projdiff.operators import LinearOperator

    class Half(LinearOperator):
        pass

    with pytest.raises(NotImplementedError, match=r"^Half\.forward$"):
        Half(input_shape=(3,))(torch.zeros(3))
