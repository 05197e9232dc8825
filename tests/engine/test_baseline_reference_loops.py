"""The baselines against their algorithm boxes, written out with dense matrices (to 1e-6: the operator is float32).

Each reference below restates the update of its module docstring with the operator as a plain
matrix ``A`` (so ``prox``, ``gram_solve`` and the projection are solved here, not by the
operator), and is called with the documented default settings, so a changed default fails too.
Found by mutation testing (``benchmarks/mutation.py``): wrong exponents, factors and signs in
these loops passed the accuracy ranges of ``test_reference_loops.py``.
"""

import math

import pytest
import torch

from projdiff.engine.ddnm import sample_ddnm
from projdiff.engine.diffpir import sample_diffpir
from projdiff.engine.dps import sample_dps
from projdiff.engine.observation import Problem
from projdiff.engine.pigdm import sample_pigdm
from projdiff.operators import MatrixOperator
from projdiff.priors import GaussianPrior

D, M, K, B = 12, 5, 2, 2
SIGMAS = torch.tensor([4.0, 1.7, 0.6, 0.2, 0.05], dtype=torch.float64)


def setup(sigma_y):
    g = torch.Generator().manual_seed(21)
    a = torch.randn(M, D, generator=g, dtype=torch.float64) / 3
    grid = torch.arange(D, dtype=torch.float64)
    cov = torch.exp(-(grid[:, None] - grid[None]) ** 2 / 8) + 0.05 * torch.eye(D, dtype=torch.float64)
    prior = GaussianPrior(torch.zeros(D), cov)
    sigma_y = torch.tensor(sigma_y, dtype=torch.float64)
    y = prior.sample(B, g) @ a.T + sigma_y[:, None] * torch.randn(B, M, generator=g, dtype=torch.float64)
    problem = Problem(MatrixOperator(a, (D,)), y, sigma_y)

    def denoise(x, sigma):
        return prior.denoise(x.reshape(-1, D), torch.full((K * B,), float(sigma), dtype=x.dtype)).reshape(x.shape)

    return a, y, sigma_y, problem, denoise


def draws(seed=5):
    g = torch.Generator().manual_seed(seed)
    return lambda: torch.randn((K, B, D), generator=g, dtype=torch.float64)


def split(sigma, following, eta):
    """DDPM/DDIM split of a step: ``(down, up)`` with ``down^2 + up^2 = following^2``."""
    if following == 0:
        return 0.0, 0.0
    up = min(following, eta * following * math.sqrt(sigma**2 - following**2) / sigma)
    return math.sqrt(following**2 - up**2), up


def pairs():
    values = [float(s) for s in SIGMAS] + [0.0]
    return list(zip(values[:-1], values[1:]))


NOISY, NOISE_FREE = [0.1, 0.3], [0.0, 0.0]


@pytest.mark.parametrize("sigma_y", [NOISY, NOISE_FREE], ids=["noisy", "noise-free"])
def test_diffpir_is_its_algorithm_box(sigma_y):
    """``rho = 7 sigma_y^2 / sigma^2``; ``argmin ||A z - y||^2 + rho ||z - x0||^2``; zeta = 0.3 re-noising."""
    a, y, s_y, problem, denoise = setup(sigma_y)
    draw = draws()
    x = SIGMAS[0] * draw()
    for sigma, following in pairs():
        x0 = denoise(x, sigma)
        rho = 7.0 * s_y**2 / sigma**2                                          # (B,)
        lhs = a.T @ a + rho[:, None, None] * torch.eye(D, dtype=torch.float64)
        if bool((rho > 0).all()):
            x0c = torch.linalg.solve(lhs, (y @ a + rho[:, None] * x0).unsqueeze(-1)).squeeze(-1)
        else:                                                                  # projection onto {A z = y}
            x0c = x0 + (y - x0 @ a.T) @ torch.linalg.pinv(a).T
        eps = (x - x0c) / sigma
        x = x0c + following * (math.sqrt(0.7) * eps + math.sqrt(0.3) * draw())
    torch.testing.assert_close(sample_diffpir(denoise, problem, SIGMAS, draws()), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sigma_y, eta", [(NOISY, None), (NOISE_FREE, None), (NOISY, 0.0)],
                         ids=["noisy", "noise-free", "noisy-ddim"])
def test_dps_is_its_algorithm_box(sigma_y, eta):
    """DDPM step (default eta = 1; eta = 0: DDIM), then ``- zeta sqrt((1 + s^2)(1 + s'^2)) grad ||y - A x0(x)||``
    per item, zeta = 1."""
    a, y, _, problem, denoise = setup(sigma_y)
    draw = draws()
    x = SIGMAS[0] * draw()
    for sigma, following in pairs():
        xg = x.clone().requires_grad_(True)
        x0 = denoise(xg, sigma)
        norm = ((y - x0 @ a.T) ** 2).sum(-1).sqrt()                            # (K, B)
        (grad,) = torch.autograd.grad(norm.sum(), xg)
        down, up = split(sigma, following, 1.0 if eta is None else eta)
        x0 = x0.detach()
        x = x0 + down / sigma * (x - x0) + up * draw()
        x = x - math.sqrt((1 + sigma**2) * (1 + following**2)) * grad
    options = {} if eta is None else {"eta": eta}
    torch.testing.assert_close(sample_dps(denoise, problem, SIGMAS, draws(), **options), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sigma_y", [NOISY, NOISE_FREE], ids=["noisy", "noise-free"])
def test_pigdm_is_its_algorithm_box(sigma_y):
    """``x0 + J^T A^T (A A^T + sigma_y^2 / r^2 I)^-1 (y - A x0)``, ``r^2 = s^2 / (1 + s^2)``; eta = 1 step."""
    a, y, s_y, problem, denoise = setup(sigma_y)
    draw = draws()
    x = SIGMAS[0] * draw()
    for sigma, following in pairs():
        r2 = sigma**2 / (1 + sigma**2)
        xg = x.clone().requires_grad_(True)
        x0 = denoise(xg, sigma)
        gram = a @ a.T + (s_y**2 / r2)[:, None, None] * torch.eye(M, dtype=torch.float64)      # (B, M, M)
        w = torch.linalg.solve(gram, (y - x0.detach() @ a.T).unsqueeze(-1)).squeeze(-1)        # (K, B, M)
        (guidance,) = torch.autograd.grad(x0, xg, grad_outputs=w @ a)
        x0 = x0.detach()
        down, up = split(sigma, following, 1.0)
        x = x0 + guidance + down / sigma * (x - x0) + up * draw()
    torch.testing.assert_close(sample_pigdm(denoise, problem, SIGMAS, draws()), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_ancestral_step_splits_the_noise(eta):
    from projdiff.engine.ancestral import ancestral_step

    for sigma, following in pairs():
        assert ancestral_step(sigma, following, eta) == pytest.approx(split(sigma, following, eta), abs=1e-12)
    assert ancestral_step(2.0, 1.0, eta) == pytest.approx(split(2.0, 1.0, eta), abs=1e-12)   # a level of exactly 1


def test_ddnm_noise_free_is_the_null_space_decomposition():
    """Noise-free DDNM: ``x' = P(x0) + s' (eta n + sqrt(1 - eta^2) eps)``, eta = 0.85, P onto {A x = y}."""
    a, y, _, problem, denoise = setup(NOISE_FREE)
    draw = draws()
    x = SIGMAS[0] * draw()
    pinv = torch.linalg.pinv(a)
    for sigma, following in pairs():
        x0 = denoise(x, sigma)
        eps = (x - x0) / sigma
        projected = x0 + (y - x0 @ a.T) @ pinv.T
        x = projected + following * (0.85 * draw() + math.sqrt(1 - 0.85**2) * eps)
    torch.testing.assert_close(sample_ddnm(denoise, problem, SIGMAS, draws()), x, rtol=1e-5, atol=1e-6)


def test_ddnm_plus_noisy_inpainting_is_its_algorithm_box():
    """Noisy DDNM+ on observed entries, with levels that meet ``sigma_a`` exactly (the ``sigma' >= sigma_a`` edge).

    Inpainting with noise ``sigma_y`` per item: ``sigma_a = sigma_y`` on observed entries. Where
    ``sigma' >= sigma_a`` an observed entry becomes ``y + sqrt(sigma'^2 - sigma_a^2) n``; below, it moves to
    ``x0 + lam (y - x0) + eta sigma' n`` with ``lam = sigma' sqrt(1 - eta^2) / sigma_a``; missing entries
    take the DDIM step ``x0 + sigma' (eta n + sqrt(1 - eta^2) eps)``. Levels 0.2 and 0.05 equal the two
    items' ``sigma_y``, so a strict ``>`` or a sign error in the observed part is caught.
    """
    from projdiff.operators import Inpainting

    g = torch.Generator().manual_seed(3)
    grid = torch.arange(D, dtype=torch.float64)
    prior = GaussianPrior(torch.zeros(D, dtype=torch.float64),
                          torch.exp(-(grid[:, None] - grid[None]) ** 2 / 8) + 0.05 * torch.eye(D, dtype=torch.float64))
    mask = (torch.arange(D) % 3 != 1).to(torch.float64)
    sigma_y = torch.tensor([0.2, 0.05], dtype=torch.float64)
    y = mask * (prior.sample(B, g) + sigma_y[:, None] * torch.randn(B, D, generator=g, dtype=torch.float64))
    problem = Problem(Inpainting(mask), y, sigma_y)

    def denoise(x, sigma):
        return prior.denoise(x.reshape(-1, D), torch.full((K * B,), float(sigma), dtype=x.dtype)).reshape(x.shape)

    eta, observed, sigma_a = 0.85, mask.bool(), sigma_y[:, None]
    draw = draws()
    x = SIGMAS[0] * draw()
    for sigma, following in pairs():
        x0 = denoise(x, sigma)
        eps, n = (x - x0) / sigma, draw()
        missing = x0 + following * (eta * n + math.sqrt(1 - eta**2) * eps)
        lam = following * math.sqrt(1 - eta**2) / sigma_a
        ahead = y + (following**2 - sigma_a**2).clamp_min(0).sqrt() * n
        behind = x0 + lam * (y - x0) + eta * following * n
        x = torch.where(observed, torch.where(following >= sigma_a, ahead, behind), missing)
    torch.testing.assert_close(sample_ddnm(denoise, problem, SIGMAS, draws()), x, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sampler, name, bounds", [
    (sample_ddnm, "eta", (0.0, 1.0)), (sample_diffpir, "zeta", (0.0, 1.0)), (sample_pigdm, "eta", (0.0, 1.0)),
    (sample_dps, None, None)])
def test_bounded_options_accept_their_closed_interval_and_name_the_argument(sampler, name, bounds):
    """Option checks at their edges: [0, 1] is accepted at both ends, just outside is refused by name."""
    _, _, _, problem, denoise = setup(NOISY)
    if name is None:
        assert sampler(denoise, problem, SIGMAS[:2], draws()).shape == (K, B, D)
        return
    for value in bounds:
        assert sampler(denoise, problem, SIGMAS[:2], draws(), **{name: value}).shape == (K, B, D)
    for value in (bounds[0] - 0.01, bounds[1] + 0.01):
        with pytest.raises(ValueError, match=rf"^{name}: expected a float in \[0, 1\], got {value}$"):
            sampler(denoise, problem, SIGMAS[:2], draws(), **{name: value})


def test_pigdm_weight_must_be_positive():
    _, _, _, problem, denoise = setup(NOISY)
    with pytest.raises(ValueError, match=r"^weight: expected a float > 0, got 0.0$"):
        sample_pigdm(denoise, problem, SIGMAS[:2], draws(), weight=0.0)
    assert sample_pigdm(denoise, problem, SIGMAS[:2], draws(), weight=1e-3).shape == (K, B, D)


@pytest.mark.parametrize("sampler", [sample_ddnm, sample_diffpir, sample_dps, sample_pigdm])
def test_callbacks_see_every_step_with_its_tensors(sampler):
    """The callback of every baseline: one call per level, in order, with that level and (K, B, D) tensors."""
    _, _, _, problem, denoise = setup(NOISY)
    calls = []
    sampler(denoise, problem, SIGMAS, draws(), callback=calls.append)
    assert [c["step"] for c in calls] == list(range(len(SIGMAS)))
    assert [c["sigma"] for c in calls] == SIGMAS.tolist()
    for c in calls:
        assert sorted(c) == ["denoised", "sigma", "step", "x0", "x_t"]
        assert all(c[k].shape == (K, B, D) for k in ("x_t", "denoised", "x0"))


@pytest.mark.parametrize("sampler, name, needs", [(sample_diffpir, "diffpir", "prox"),
                                                   (sample_pigdm, "pigdm", "gram_solve, adjoint")])
def test_a_missing_operator_method_is_named_with_the_sampler(sampler, name, needs):
    from projdiff.operators import NonlinearOperator

    op = NonlinearOperator(lambda v: v[..., :M] ** 3, (D,))
    problem = Problem(op, torch.zeros(B, M, dtype=torch.float64), torch.zeros(B, dtype=torch.float64))
    with pytest.raises(TypeError, match=rf"^operator: method '{name}' needs {needs}\(\)"):
        sampler(lambda x, s: x, problem, SIGMAS, draws())
