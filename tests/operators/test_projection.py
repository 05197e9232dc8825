"""The generic projection of ``Operator.project``: trust-region Gauss-Newton with a convergence check."""

import pytest
import torch

import projdiff
from projdiff.operators import LinearOperator, NonlinearOperator, ProjectionError
from projdiff.operators.projection import trust_region_projection
from projdiff.priors import GaussianPrior

MIXING = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))


def tanh_of_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ MIXING.T.to(x.dtype))


def test_projections_from_spread_out_starts_are_finite_and_feasible():
    """From starts around the truth (|A x| up to about 5) every item reaches the constraint."""
    g = torch.Generator().manual_seed(1)
    truth = torch.randn(8, 4, generator=g, dtype=torch.float64)
    y = tanh_of_linear(truth)
    starts = truth + torch.randn(50, 8, 4, generator=g, dtype=torch.float64)
    p = NonlinearOperator(tanh_of_linear, (4,)).project(starts, y)
    assert bool(torch.isfinite(p).all())
    assert float((tanh_of_linear(p) - y).norm(dim=-1).max()) <= 1e-4 * (1 + float(y.norm(dim=-1).max()))
    assert float((p - starts).norm(dim=-1).max()) < 10


def test_solve_with_tanh_of_a_linear_map_stays_on_the_constraint_and_in_range():
    """Undamped Gauss-Newton steps diverged on this problem (``DivergenceError``)."""
    op = NonlinearOperator(tanh_of_linear, (4,))
    prior = GaussianPrior(torch.zeros(4), torch.eye(4), sigma_max=20.0)
    g = torch.Generator().manual_seed(0)
    y = op(prior.sample(8, g).float())
    res = projdiff.solve(op, prior, y, steps=30, num_samples=2, seed=0, progress=False)
    assert float((op(res.samples) - y).abs().max()) < 1e-3
    assert float(res.samples.abs().max()) < 10


def test_the_docstring_example_gives_samples_of_the_prior_scale():
    """``tanh(x).sum(-1)``: Gauss-Newton steps went to |x| ~ 1e7 with constraint violations ~3."""
    op = NonlinearOperator(lambda x: torch.tanh(x).sum(-1, keepdim=True), (4,))
    prior = GaussianPrior(torch.zeros(4), torch.eye(4), sigma_max=20.0)
    y = op(prior.sample(6, torch.Generator().manual_seed(3)).float())
    res = projdiff.solve(op, prior, y, steps=30, num_samples=4, seed=0, progress=False)
    assert float((op(res.samples) - y).abs().max()) < 1e-3
    assert float(res.samples.abs().max()) < 6


def test_an_unreachable_measurement_is_a_named_error():
    op = NonlinearOperator(lambda x: torch.tanh(x).sum(-1, keepdim=True), (4,))
    with pytest.raises(ProjectionError, match=r"1 of 2 items did not reach A\(x\) = y"):
        op.project(torch.zeros(2, 4), torch.tensor([[1.0], [5.0]]))


def test_a_linear_map_is_projected_exactly_and_orthogonally():
    matrix = torch.randn(3, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    forward = lambda x: x @ matrix.T.to(x.dtype)  # noqa: E731
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = torch.randn(5, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    p = trust_region_projection(forward, x, y, 1, tol=1e-10)
    exact = LinearOperator(forward, (6,)).double().project(x, y)
    torch.testing.assert_close(p, exact, atol=1e-8, rtol=0)


def test_projection_settings_are_checked():
    with pytest.raises(ValueError, match="project_tol: expected a positive finite number"):
        NonlinearOperator(torch.tanh, (3,), project_tol=0.0)
    with pytest.raises(ValueError, match="project_max_iter: expected an int >= 1"):
        NonlinearOperator(torch.tanh, (3,), project_max_iter=0)


def test_trust_region_starts_small_doubles_while_the_model_is_exact_and_stops_at_the_tolerance():
    """``A x = 3 x`` from 0 to ``y = 10``: the radius starts at 0.1 (``START * (1 + ||x||)``) and doubles after every
    step whose predicted decrease is met, so the iterates are 0.1, 0.3, 0.7, 1.5, 3.1; with ``tol = 0.1`` the
    stopping rule ``||y - A x|| <= tol (1 + ||y||) = 1.1`` holds at 3.1 (residual 0.7), one step before the exact
    10 / 3. A tighter tolerance goes on to it."""
    x0, y = torch.zeros(1, 1, dtype=torch.float64), torch.tensor([[10.0]], dtype=torch.float64)
    loose = trust_region_projection(lambda x: 3 * x, x0, y, 1, tol=0.1)
    assert float(loose) == pytest.approx(3.1, abs=1e-9)
    assert float(trust_region_projection(lambda x: 3 * x, x0, y, 1, tol=1e-9)) == pytest.approx(10 / 3, abs=1e-8)


def test_an_unreachable_target_is_refused_with_its_relative_residual():
    """``tanh(x) = 2`` cannot be met: the residual tends to ``2 - 1 = 1``, relative to ``1 + ||y|| = 3``."""
    with pytest.raises(ProjectionError, match=r"^project: 1 of 2 items did not reach A\(x\) = y \(relative residual "
                                              r"0\.333 > tol 0\.0001 after at most 30 Gauss-Newton steps\)"):
        trust_region_projection(torch.tanh, torch.zeros(2, 1, dtype=torch.float64),
                                torch.tensor([[2.0], [0.5]], dtype=torch.float64), 1, max_iter=30)
