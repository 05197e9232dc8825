"""benchmarks/deepinv_adapter.py and deepinv_solvers.py: the same operators and priors in deepinv's terms."""

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("deepinv", reason="deepinv is not installed (pip install -e '.[bench]'); peer benchmarks only")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from deepinv_adapter import DecomposedPhysics, OperatorPhysics, PriorDenoiser, UnitMap, physics, svd_modes  # noqa: E402
from deepinv_solvers import METHODS, not_applicable, sample  # noqa: E402

from projdiff.operators import Blur, Inpainting, SuperResolution  # noqa: E402
from projdiff.testing.conformance import gaussian_prior, operators  # noqa: E402

OPERATORS = {**operators(), "box32": Inpainting.box((1, 32, 32), 10, 10, 12, 12),
             "blur-rgb": Blur(torch.tensor([[0.25, 0.5, 0.25]]).T * torch.tensor([0.2, 0.6, 0.2]), (3, 8, 8))}
DECOMPOSABLE = {"inpaint30", "blur", "dense24", "box32", "blur-rgb"}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_wrapped_physics_reproduce_the_operator(name):
    op = OPERATORS[name]
    wrapped = physics(op, 0.1, torch.float64)
    assert isinstance(wrapped, DecomposedPhysics if name in DECOMPOSABLE else OperatorPhysics)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((3, *op.input_shape), generator=g, dtype=torch.float64)
    y = torch.randn((3, *op.output_shape), generator=g, dtype=torch.float64)
    torch.testing.assert_close(wrapped.A(x), op(x))
    torch.testing.assert_close(wrapped.A_adjoint(y), op.adjoint(y))
    assert float(wrapped.adjointness_test(x)) < 1e-10
    torch.testing.assert_close(wrapped.prox_l2(x, y, 2.0), op.prox(x, y, 0.5))
    if name in DECOMPOSABLE:  # the SVD form U diag(s) V^T, as DDRM and PiGDM use it
        torch.testing.assert_close(wrapped.U(wrapped.mask * wrapped.V_adjoint(x)), op(x))
        torch.testing.assert_close(wrapped.V(wrapped.mask * wrapped.U_adjoint(y)), op.adjoint(y))
        torch.testing.assert_close(wrapped.V(wrapped.V_adjoint(x)), x)


def test_only_operators_with_an_svd_are_decomposable():
    assert svd_modes(SuperResolution((1, 8, 8), 2)) is None
    assert svd_modes(Inpainting(torch.ones(2, 1, 4, 4), (1, 4, 4))) is None  # one mask per item
    assert "SVD" in not_applicable("DDRM", OPERATORS["cs24"]) and not_applicable("DPS", OPERATORS["cs24"]) is None


def test_units_map_the_prior_and_the_measurements_exactly():
    prior = gaussian_prior()
    units = UnitMap.for_mixture(prior)
    assert units.shift == 0.5 and units.scale == pytest.approx(0.5 / (4 * 1.01**0.5))
    x = prior.sample(4, torch.Generator().manual_seed(1))
    noisy = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    denoiser = PriorDenoiser(prior, units)
    out = denoiser(units.to_image(noisy), units.noise(0.3))
    torch.testing.assert_close(units.from_image(out), prior.denoise(noisy, torch.full((4,), 0.3, dtype=x.dtype)))
    op = OPERATORS["sr2"]
    torch.testing.assert_close(units.measurement(op, op(x)), op(units.to_image(x)))
    assert denoiser.calls == 1


@pytest.mark.parametrize("method", METHODS)
def test_each_deepinv_method_is_reproducible_counts_calls_and_leaves_the_global_rng_alone(method):
    prior, op = gaussian_prior(), OPERATORS["inpaint30"]
    units = UnitMap.for_mixture(prior)
    x = prior.sample(3, torch.Generator().manual_seed(0))
    y = units.measurement(op, op(x))
    state = torch.random.get_rng_state()
    runs = []
    for _ in range(2):
        denoiser = PriorDenoiser(prior, units)
        runs.append(sample(method, denoiser, op, y, units.noise(0.05), 6, seed=3))
        assert denoiser.calls == 6
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=1e-6)
    assert runs[0].shape == x.shape and bool(torch.isfinite(runs[0]).all())
