"""The solver engine: reference fidelity, determinism, batching, memory, options and bad input."""

import gc

import pytest
import torch

import projdiff
from projdiff.engine.schedules import karras_sigmas, linear_beta_alphas_cumprod, strided_vp_sigmas
from projdiff.operators.base import LinearOperator, Operator
from projdiff.priors import GaussianPrior
from projdiff.priors.base import Prior

D = 64


def se_prior(length=6.0, nugget=1e-3):
    t = torch.arange(D, dtype=torch.float64)
    cov = torch.exp(-(t[:, None] - t[None]) ** 2 / (2 * length**2)) + nugget * torch.eye(D, dtype=torch.float64)
    return GaussianPrior(torch.zeros(D), cov)


def masking(fraction=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(D, dtype=torch.float64)
    mask[torch.randperm(D, generator=g)[: int(fraction * D)]] = 1
    return LinearOperator(lambda x: x * mask.to(x.dtype), (D,), lambda y: y * mask.to(y.dtype), frame_constant=1.0)


@pytest.fixture(scope="module")
def problem():
    prior, op = se_prior(), masking()
    x = prior.sample(4, torch.Generator().manual_seed(1))
    return prior, op, x, op(x)


def test_matches_a_literal_vp_space_reference_step_by_step(problem):
    """ProjDiff's noise-free loop written in the reference's VP form gives the same numbers."""
    prior, op, _, y = problem
    y = y[:1]
    abar = linear_beta_alphas_cumprod()
    res = projdiff.solve(op, prior, y, steps=100, sigmas=strided_vp_sigmas(abar, 100), seed=7, progress=False,
                         step_size=1.0)

    gen = torch.Generator().manual_seed(7)
    draw = lambda: torch.randn((1, D), generator=gen, dtype=torch.float64)  # noqa: E731

    def mu(xt, t):  # the reference's x0 prediction from an epsilon network
        a = abar[t]
        eps = (xt - a.sqrt() * prior.denoise(xt / a.sqrt(), ((1 - a) / a).sqrt().reshape(1))) / (1 - a).sqrt()
        return (xt - (1 - a).sqrt() * eps) / a.sqrt()

    seq = list(range(0, 1000, 10))
    x0 = op.project(mu((1 - abar[seq[-1]]).sqrt() * draw(), seq[-1]), y)  # engine projects the start
    draw()
    for t in reversed(seq):
        xt = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * draw()
        x0 = op.project(x0 + (mu(xt, t) - x0), y)
        draw()
    torch.testing.assert_close(res.x, x0, atol=1e-12, rtol=0)


def test_noise_free_result_satisfies_the_measurement(problem):
    prior, op, _, y = problem
    res = projdiff.solve(op, prior, y, steps=20, seed=0, progress=False)
    torch.testing.assert_close(op(res.x), y, atol=1e-12, rtol=0)


def test_a_schedule_alone_sets_the_step_count(problem):
    """As in k-diffusion, ``len(sigmas)`` is the step count when ``steps`` is not given."""
    prior, op, _, y = problem
    sigmas = karras_sigmas(7, 1e-3, 20.0)
    alone = projdiff.solve(op, prior, y, sigmas=sigmas, seed=0, progress=False)
    both = projdiff.solve(op, prior, y, steps=7, sigmas=sigmas, seed=0, progress=False)
    assert alone.nfe == 8 and torch.equal(alone.x, both.x)


def test_warm_start_keeps_what_init_knows(problem):
    """From the truth at a low noise level the sample stays close to it; from scratch it is a posterior draw."""
    prior, op, x, y = problem
    low = karras_sigmas(10, 1e-3, 0.02)
    warm = projdiff.solve(op, prior, y, steps=10, seed=0, progress=False, sigmas=low, init=x).x
    cold = projdiff.solve(op, prior, y, steps=10, seed=0, progress=False).x
    assert (warm - x).norm() < 0.2 * (cold - x).norm()
    torch.testing.assert_close(op(warm), y, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"init: expected shape \(4, 64\)"):
        projdiff.solve(op, prior, y, steps=10, progress=False, init=x[:1])


def test_same_seed_same_bits_and_other_seed_differs(problem):
    prior, op, _, y = problem
    a = projdiff.solve(op, prior, y, sigma_y=0.05, steps=15, num_samples=3, seed=3, progress=False)
    b = projdiff.solve(op, prior, y, sigma_y=0.05, steps=15, num_samples=3, seed=3, progress=False)
    c = projdiff.solve(op, prior, y, sigma_y=0.05, steps=15, num_samples=3, seed=4, progress=False)
    assert torch.equal(a.samples, b.samples)
    assert not torch.equal(a.samples, c.samples)
    assert a.seeds == [3, 4, 5, 6]


def test_a_batch_equals_separate_calls(problem):
    """Identical random draws per item; results agree to rounding (BLAS may block a batch differently)."""
    prior, op, _, y = problem
    sigma = torch.tensor([0.0, 0.1, 0.05, 0.0], dtype=torch.float64)
    batch = projdiff.solve(op, prior, y, sigma_y=sigma, steps=12, num_samples=2, seed=[9, 2, 5, 1], progress=False)
    for i, s in enumerate([9, 2, 5, 1]):
        single = projdiff.solve(op, prior, y[i : i + 1], sigma_y=float(sigma[i]), steps=12, num_samples=2, seed=s,
                                progress=False)
        torch.testing.assert_close(batch.samples[:, i], single.samples[:, 0], atol=1e-12, rtol=0)


def test_result_fields_and_nfe(problem):
    prior, op, _, y = problem
    res = projdiff.solve(op, prior, y, steps=7, num_samples=5, inner_steps=3, seed=0, progress=False)
    assert res.samples.shape == (5, 4, D) and res.x.shape == (4, D) and res.std.shape == (4, D)
    torch.testing.assert_close(res.x, res.samples.mean(0))
    assert res.nfe == 1 + 7 * 3 and res.seconds > 0
    assert projdiff.solve(op, prior, y, steps=3, seed=0, progress=False).std is None


def test_memory_does_not_grow_with_steps(problem):
    """Compared within the fine levels (from step 30 of 200), where noise-free items also hold the
    over-relaxation's residual and step sizes: a fixed number of tensors more than at the coarse levels."""
    prior, op, _, y = problem
    live = {}

    def count(state):
        if state["step"] in (40, 195):
            gc.collect()
            live[state["step"]] = sum(type(o) is torch.Tensor for o in gc.get_objects())

    projdiff.solve(op, prior, y, steps=200, seed=0, progress=False, callback=count)
    assert live[195] <= live[40]


def test_callback_sees_the_intermediates(problem):
    prior, op, _, y = problem
    seen = []
    projdiff.solve(op, prior, y, steps=4, seed=0, progress=False, callback=lambda s: seen.append(s))
    assert [s["step"] for s in seen] == [0, 1, 2, 3]
    assert set(seen[0]) == {"step", "inner", "sigma", "x_t", "denoised", "x0", "x_a"}
    assert seen[0]["x0"].shape == (1, 4, D)
    assert seen[0]["sigma"] > seen[-1]["sigma"]


class _NaNPrior(Prior):
    def denoise(self, x, sigma):
        return torch.where(sigma.reshape(-1, 1) < 1.0, torch.full_like(x, float("nan")), torch.zeros_like(x))


def test_divergence_names_the_step(problem):
    _, op, _, y = problem
    with pytest.raises(projdiff.DivergenceError, match=r"step \d+ of 30"):
        projdiff.solve(op, _NaNPrior(), y, steps=30, seed=0, progress=False)


class _NoProjection(Operator):
    def forward(self, x):
        return x

    project = None


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(y=torch.zeros(2, 63)), ValueError, r"y: expected shape \(B, 64\)"),
    (dict(y=torch.zeros(64)), ValueError, r"y: expected shape \(B, 64\)"),
    (dict(y=torch.full((1, 64), float("nan"))), ValueError, "y: expected finite values, got 64 NaN"),
    (dict(y=[[0.0] * 64]), TypeError, r"^y: expected a torch.Tensor of shape \(B, \*operator.output_shape\), got list$"),
    (dict(y=torch.zeros(1, 64, dtype=torch.int64)), TypeError, r"^y: expected a floating-point tensor, got dtype torch.int64$"),
    (dict(sigma_y=-0.1), ValueError, "sigma_y: expected finite values >= 0"),
    (dict(steps=0), ValueError, "steps: expected an int >= 1, got 0"),
    (dict(num_samples=0), ValueError, "num_samples: expected an int >= 1"),
    (dict(method="dps2"), ValueError, "method: expected one of"),
    (dict(stepsize=0.5), TypeError, "stepsize not understood by method 'projdiff'"),
    (dict(steps=100, sigmas=torch.tensor([2.0, 1.0])), ValueError, "sigmas: expected 100 positive, descending"),
    (dict(seed=[1, 2]), ValueError, "seed: expected an int or 1 seeds"),
    (dict(momentum=1.0), ValueError, r"momentum: expected a float in \[0, 1\)"),
    (dict(step_size=0.0), ValueError, "step_size: expected 'auto', a finite number > 0 or a callable, got 0.0"),
    (dict(step_size=-1), ValueError, "step_size: expected 'auto', a finite number > 0"),
    (dict(step_size=float("nan")), ValueError, "step_size: expected 'auto', a finite number > 0"),
    (dict(step_size=float("inf")), ValueError, "step_size: expected 'auto', a finite number > 0"),
    (dict(step_size="fast"), ValueError, "step_size: expected 'auto', a finite number > 0"),
    (dict(step_size=lambda s, n: -1.0), ValueError, "step_size: the rule gave -1.0 at sigma="),
    (dict(sigmas=torch.tensor([float("nan"), 1.0])), ValueError, "sigmas: expected finite noise levels, got 1 NaN"),
    (dict(sigmas=torch.tensor([float("inf"), 1.0])), ValueError, "sigmas: expected finite noise levels"),
    (dict(init=torch.full((1, 64), float("nan"))), ValueError, "init: expected finite values, got 64 NaN"),
])
def test_bad_input_is_named(problem, kwargs, error, message):
    prior, op, _, y = problem
    args = dict(y=y[:1]) | kwargs
    with pytest.raises(error, match=message):
        projdiff.solve(op, prior, args.pop("y"), progress=False, **args)


class _BrokenNetwork(Prior):
    """A prior whose weights hold a NaN (a diverged training run)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([1.0, float("nan")]))

    def denoise(self, x, sigma):
        return x * 0


def test_a_prior_with_nan_parameters_is_refused_up_front(problem):
    _, op, _, y = problem
    with pytest.raises(ValueError, match="prior: parameter 'scale' has 1 NaN or Inf entries"):
        projdiff.solve(op, _BrokenNetwork(), y, steps=3, progress=False)


@pytest.mark.parametrize("parameters", [dict(mean=torch.tensor([float("nan"), 0.0]), cov=torch.eye(2)),
                                        dict(mean=torch.zeros(2), cov=torch.tensor([1.0, float("nan")])),
                                        dict(mean=torch.zeros(2), cov=torch.full((2, 2), float("inf")))])
def test_an_analytic_prior_with_nan_parameters_is_refused(parameters):
    with pytest.raises(ValueError, match="expected finite values, got NaN or Inf"):
        GaussianPrior(**parameters)


def test_prior_and_operator_shapes_must_agree():
    prior = GaussianPrior(torch.zeros(1, 4, 4), torch.ones(16))
    op = LinearOperator(lambda x: x, (1, 4, 5))
    with pytest.raises(ValueError, match=r"operator.input_shape: expected \(1, 4, 4\)"):
        projdiff.solve(op, prior, torch.zeros(1, 1, 4, 5), progress=False)


def test_operator_without_projection_is_a_type_error():
    prior = GaussianPrior(torch.zeros(3), torch.ones(3))
    with pytest.raises(TypeError, match="project"):
        projdiff.solve(_NoProjection((3,)), prior, torch.zeros(1, 3), progress=False)


def test_projdiff_default_levels_follow_the_data_scale():
    """Coarse levels from 4 sigma_data to sigma_data * PROJDIFF_MIDDLE, then the rest down to
    sigma_data / 200 (not below sigma_min); the prior's whole range when sigma_data is unknown."""
    from projdiff.engine.schedules import PROJDIFF_COARSE, PROJDIFF_MIDDLE, projdiff_sigmas

    levels = projdiff_sigmas(100, 0.002, 80.0, 0.5)
    assert levels.shape == (100,) and bool((levels[1:] < levels[:-1]).all())
    assert float(levels[0]) == pytest.approx(2.0) and float(levels[-1]) == pytest.approx(0.0025)
    assert float(levels[PROJDIFF_COARSE]) == pytest.approx(0.5 * PROJDIFF_MIDDLE)
    assert float(projdiff_sigmas(10, 0.01, 80.0, 0.5)[-1]) == pytest.approx(0.01)
    torch.testing.assert_close(projdiff_sigmas(3, 0.002, 20.0), torch.tensor([20.0, 0.2, 0.002], dtype=torch.float64))
    assert projdiff_sigmas(1, 0.002, 80.0, 0.5).tolist() == [2.0]


def test_solve_uses_the_projdiff_levels_and_karras_for_the_baselines(problem):
    prior, op, _, y = problem
    seen = {}
    for method in ("projdiff", "ddnm"):
        levels = []
        projdiff.solve(op, prior, y[:1], steps=12, seed=0, method=method, progress=False,
                       callback=lambda state, levels=levels: levels.append(state["sigma"]))
        seen[method] = levels
    assert seen["projdiff"][0] == pytest.approx(4 * prior.sigma_data)
    assert seen["ddnm"][0] == pytest.approx(prior.sigma_max)


def test_a_measurement_of_the_wrong_shape_is_named_with_the_operators_shape():
    from projdiff.operators import Inpainting
    from projdiff.priors import GaussianPrior

    prior = GaussianPrior(torch.zeros(1, 2, 3), torch.eye(6))
    with pytest.raises(ValueError, match=r"^y: expected shape \(B, 1, 2, 3\) for Inpainting, got \(1, 6\)$"):
        projdiff.solve(Inpainting(torch.ones(1, 2, 3)), prior, torch.zeros(1, 6), progress=False)
