"""Analytic priors: exact denoisers and exact posteriors against brute-force dense formulas."""

import math

import pytest
import torch

from projdiff.operators.base import LinearOperator
from projdiff.priors import AffinePrior, Covariance, GaussianMixturePrior, GaussianPrior


def _random_cov(d, g, rank=None):
    f = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return f @ f.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_gaussian_denoiser_matches_dense_formula():
    g = torch.Generator().manual_seed(0)
    mean, cov = torch.randn(6, generator=g, dtype=torch.float64), _random_cov(6, g)
    prior = GaussianPrior(mean, cov)
    x = torch.randn(3, 6, generator=g, dtype=torch.float64)
    sigma = torch.tensor([0.1, 1.0, 7.0], dtype=torch.float64)
    out = prior.denoise(x, sigma)
    for i in range(3):
        expected = mean + cov @ torch.linalg.solve(cov + sigma[i] ** 2 * torch.eye(6, dtype=torch.float64), x[i] - mean)
        torch.testing.assert_close(out[i], expected)


@pytest.mark.parametrize("form", ["diagonal", "low_rank"])
def test_structured_covariances_equal_their_dense_matrix(form):
    g = torch.Generator().manual_seed(1)
    if form == "diagonal":
        cov = Covariance.diagonal(torch.rand(5, generator=g, dtype=torch.float64) + 0.1)
    else:
        cov = Covariance.low_rank(torch.randn(5, 2, generator=g, dtype=torch.float64), 0.3)
    dense = Covariance.full(cov.dense())
    v = torch.randn(4, 5, generator=g, dtype=torch.float64)
    s2 = torch.tensor([[0.01], [0.5], [2.0], [9.0]], dtype=torch.float64)
    torch.testing.assert_close(cov.shrink(v, s2), dense.shrink(v, s2))
    torch.testing.assert_close(cov.log_density(v, s2), dense.log_density(v, s2))
    z = torch.randn(4, 5, generator=g, dtype=torch.float64)
    root = cov.sqrt_matvec(torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(root @ root.T, cov.dense())
    assert cov.sqrt_matvec(z).shape == (4, 5)


def test_gmm_denoiser_is_the_posterior_mean_of_x0():
    """E[x0 | x] by importance weighting of prior draws agrees with the closed form."""
    g = torch.Generator().manual_seed(2)
    prior = GaussianMixturePrior(torch.tensor([0.3, 0.7]), torch.tensor([[-2.0, 0.0], [2.0, 1.0]]),
                                 [torch.tensor([0.2, 0.5]), torch.tensor([[0.4, 0.1], [0.1, 0.3]])])
    x = torch.tensor([[0.5, 0.4]], dtype=torch.float64)
    sigma = 1.3
    draws = prior.sample(400_000, g)
    logw = -((x - draws) ** 2).sum(-1) / (2 * sigma**2)
    w = torch.softmax(logw, 0)
    mc = (w[:, None] * draws).sum(0)
    torch.testing.assert_close(prior.denoise(x, torch.tensor([sigma])), mc[None], atol=1e-2, rtol=0)


def test_gaussian_posterior_matches_dense_formula_and_samples():
    g = torch.Generator().manual_seed(3)
    d = 5
    mean, cov = torch.randn(d, generator=g, dtype=torch.float64), _random_cov(d, g)
    a = torch.randn(3, d, generator=g, dtype=torch.float64)
    op = LinearOperator(lambda v: v @ a.T.to(v.dtype), (d,))
    prior = GaussianPrior(mean, cov)
    y = torch.randn(2, 3, generator=g, dtype=torch.float64)
    post = prior.posterior(op, y, 0.2)
    s = a @ cov @ a.T + 0.04 * torch.eye(3, dtype=torch.float64)
    k = cov @ a.T @ torch.linalg.inv(s)
    torch.testing.assert_close(post.mean, mean + (y - a @ mean) @ k.T)
    torch.testing.assert_close(post.covariance()[0], cov - k @ a @ cov)
    samples = post.sample(100_000, g)
    torch.testing.assert_close(samples.mean(0), post.mean, atol=2e-2, rtol=0)
    torch.testing.assert_close(samples.var(0), post.variance, atol=2e-2, rtol=0)


def test_noise_free_posterior_reproduces_the_observation():
    g = torch.Generator().manual_seed(4)
    prior = GaussianMixturePrior(torch.tensor([0.5, 0.5]), torch.randn(2, 6, generator=g, dtype=torch.float64),
                                 [_random_cov(6, g), _random_cov(6, g)])
    op = LinearOperator(lambda v: v[..., :4], (6,))
    x = prior.sample(3, g)
    y = op(x)
    post = prior.posterior(op, y, 0.0)
    torch.testing.assert_close(op(post.sample(5, g)), y.expand(5, 3, 4), atol=1e-6, rtol=0)
    assert torch.all(post.variance[:, :4].abs() < 1e-9)


def test_gmm_posterior_weights_match_bayes_rule():
    means = torch.tensor([[-3.0, 0.0], [3.0, 0.0]], dtype=torch.float64)
    prior = GaussianMixturePrior(torch.tensor([0.5, 0.5]), means, [torch.ones(2), torch.ones(2)])
    op = LinearOperator(lambda v: v[..., :1], (2,))
    y = torch.tensor([[1.0]], dtype=torch.float64)
    post = prior.posterior(op, y, 0.5)
    lik = torch.exp(-(1.0 - means[:, 0]) ** 2 / (2 * 1.25))
    torch.testing.assert_close(post.weights[0], lik / lik.sum())


def test_affine_prior_is_the_exact_change_of_units():
    g = torch.Generator().manual_seed(6)
    base = GaussianPrior(torch.zeros(4), _random_cov(4, g))
    pixels = AffinePrior(base, scale=0.5, shift=0.5)
    direct = GaussianPrior(torch.full((4,), 0.5, dtype=torch.float64), base.cov.dense() * 0.25)
    x = torch.rand(3, 4, generator=g, dtype=torch.float64)
    sigma = torch.tensor([0.05, 0.3, 2.0], dtype=torch.float64)
    torch.testing.assert_close(pixels.denoise(x, sigma), direct.denoise(x, sigma))
    assert math.isclose(pixels.sigma_max, base.sigma_max / 2)


@pytest.mark.parametrize("bad, message", [
    (dict(cov=torch.tensor([[1.0, 2.0], [0.0, 1.0]])), "symmetric"),
    (dict(cov=torch.tensor([[1.0, 2.0], [2.0, 1.0]])), "positive semi-definite"),
    (dict(cov=torch.ones(3)), "covariance over 2 entries"),
])
def test_bad_covariances_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        GaussianPrior(torch.zeros(2), **bad)


def _three_kinds(g, d=5):
    """A full, a diagonal and a low-rank covariance over d entries, each with its dense matrix built by hand."""
    full = _random_cov(d, g)
    variances = torch.rand(d, generator=g, dtype=torch.float64) + 0.2
    factor = torch.randn(d, 2, generator=g, dtype=torch.float64)
    rho = 0.3
    return [(Covariance.full(full), full), (Covariance.diagonal(variances), torch.diag(variances)),
            (Covariance.low_rank(factor, rho), factor @ factor.T + rho * torch.eye(d, dtype=torch.float64))]


def test_low_rank_covariance_is_factor_outer_product_plus_residual():
    """Guards the eigenvalues of ``low_rank(F, rho)``: ``s**2 + rho`` (not ``s + rho``) against F F^T + rho I."""
    g = torch.Generator().manual_seed(11)
    for cov, dense in _three_kinds(g):
        torch.testing.assert_close(cov.dense(), dense)
        root = cov.sqrt_matvec(torch.eye(5, dtype=torch.float64))
        torch.testing.assert_close(root @ root.T, dense)


def test_covariance_log_density_and_shrinkage_match_torch_distributions():
    """``log N(v; 0, C + s2 I)`` (log-determinant included) and ``C (C + s2 I)^-1 v`` against dense algebra."""
    g = torch.Generator().manual_seed(12)
    v = torch.randn(3, 5, generator=g, dtype=torch.float64)
    s2 = torch.tensor([[0.01], [0.7], [4.0]], dtype=torch.float64)
    eye = torch.eye(5, dtype=torch.float64)
    for cov, dense in _three_kinds(g):
        for i in range(3):
            normal = torch.distributions.MultivariateNormal(torch.zeros(5, dtype=torch.float64), dense + s2[i] * eye)
            torch.testing.assert_close(cov.log_density(v[i:i + 1], s2[i:i + 1])[0], normal.log_prob(v[i]))
            shrunk = dense @ torch.linalg.solve(dense + s2[i] * eye, v[i])
            torch.testing.assert_close(cov.shrink(v[i:i + 1], s2[i:i + 1])[0], shrunk)


def _unequal_mixture(g, d=5):
    kinds = _three_kinds(g, d)
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    means = torch.randn(3, d, generator=g, dtype=torch.float64)
    prior = GaussianMixturePrior(weights, means, [c for c, _ in kinds])
    return prior, weights, means, [dense for _, dense in kinds]


def test_mixture_posterior_weights_with_unequal_covariances_match_brute_force_bayes():
    """Guards the log-determinant in the weights ``w_k N(y; A m_k, A C_k A^T + sigma_y^2 I)``: with unequal
    covariances it does not cancel."""
    g = torch.Generator().manual_seed(13)
    prior, weights, means, dense = _unequal_mixture(g)
    a = torch.randn(3, 5, generator=g, dtype=torch.float64)
    op = LinearOperator(lambda v: v @ a.T.to(v.dtype), (5,))
    y = torch.randn(4, 3, generator=g, dtype=torch.float64) * 2
    sigma_y = 0.3
    post = prior.posterior(op, y, sigma_y)
    for b in range(4):
        log_joint = torch.stack([
            weights[k].log() + torch.distributions.MultivariateNormal(
                a @ means[k], a @ dense[k] @ a.T + sigma_y**2 * torch.eye(3, dtype=torch.float64)).log_prob(y[b])
            for k in range(3)])
        torch.testing.assert_close(post.weights[b], torch.softmax(log_joint, 0))
    assert float(post.weights.max(-1).values.min()) < 0.99          # not one-hot: the weights are really tested


def test_mixture_denoiser_with_unequal_covariances_matches_brute_force_bayes():
    """The responsibilities ``w_k N(x; m_k, C_k + sigma^2 I)`` of the denoiser, log-determinant included."""
    g = torch.Generator().manual_seed(14)
    prior, weights, means, dense = _unequal_mixture(g)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64) * 1.5
    sigma = torch.tensor([0.2, 0.9, 2.5], dtype=torch.float64)
    out = prior.denoise(x, sigma)
    eye = torch.eye(5, dtype=torch.float64)
    for i in range(3):
        c = [dense[k] + sigma[i] ** 2 * eye for k in range(3)]
        log_joint = torch.stack([weights[k].log() + torch.distributions.MultivariateNormal(means[k], c[k]).log_prob(x[i])
                                 for k in range(3)])
        resp = torch.softmax(log_joint, 0)
        expected = sum(resp[k] * (means[k] + dense[k] @ torch.linalg.solve(c[k], x[i] - means[k])) for k in range(3))
        torch.testing.assert_close(out[i], expected)


def test_unit_interval_maps_the_data_range_onto_zero_one():
    """``AffinePrior.unit_interval``: data in ``[lo, hi]`` (``data_range``; (-1, 1) when the prior has none) become
    ``(x - lo) / (hi - lo)``; noise levels scale by ``1 / (hi - lo)``; the denoiser commutes with the map."""

    base = GaussianPrior(torch.full((3,), 0.5, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    plain = AffinePrior.unit_interval(base)
    assert (plain.scale, plain.shift) == (0.5, 0.5)
    base.data_range = (0.0, 4.0)
    wide = AffinePrior.unit_interval(base)
    assert (wide.scale, wide.shift) == (0.25, 0.0) and wide.sigma_max == pytest.approx(base.sigma_max / 4)
    x = torch.tensor([[0.1, 0.2, 0.9]], dtype=torch.float64)
    torch.testing.assert_close(wide.denoise(x, torch.tensor([0.3], dtype=torch.float64)),
                               base.denoise(4 * x, torch.tensor([1.2], dtype=torch.float64)) / 4)


def test_calling_a_prior_is_its_denoiser():
    """``prior(x, sigma)`` (``torch.nn.Module.__call__``) is ``prior.denoise(x, sigma)``."""
    prior = GaussianPrior(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64) * 4)
    x, sigma = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    torch.testing.assert_close(prior(x, sigma), x * 4 / (4 + 4))


def test_an_affine_map_scales_the_noise_range_and_the_data_scale():
    base = GaussianPrior(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64) * 4)
    scaled = AffinePrior(base, scale=-0.5, shift=1.0)
    assert scaled.sigma_data == pytest.approx(0.5 * base.sigma_data) and base.sigma_data == pytest.approx(2.0)
    assert (scaled.sigma_min, scaled.sigma_max) == (pytest.approx(0.5 * base.sigma_min), pytest.approx(0.5 * base.sigma_max))
    with pytest.raises(ValueError, match=r"^scale: expected a nonzero float, got 0$"):
        AffinePrior(base, scale=0.0)


def test_the_mixture_denoiser_answers_in_the_input_dtype():
    """Computed in float64, returned as the input's dtype (float32 in, float32 out, same values to rounding)."""
    prior = GaussianMixturePrior(torch.tensor([0.3, 0.7]), torch.tensor([[1.0, 0.0], [-1.0, 2.0]]), [torch.ones(2), torch.ones(2)])
    x = torch.tensor([[0.5, 1.0]])
    out = prior.denoise(x, torch.tensor([0.7]))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), prior.denoise(x.double(), torch.tensor([0.7], dtype=torch.float64)))


def test_a_full_covariance_is_checked_relative_to_its_scale_and_kept_in_float64():
    """Square, symmetric and PSD up to rounding relative to the largest eigenvalue (a 1e6-scale matrix with an
    eigenvalue of -1e-4 is rounding, one of -1 is not); a float32 matrix is factored in float64."""
    with pytest.raises(ValueError, match=r"^cov: expected a square matrix, got shape \(2, 3\)$"):
        Covariance.full(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"^cov: expected a square matrix, got shape \(3,\)$"):
        Covariance.full(torch.ones(3))
    q = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    nearly = (q * torch.tensor([1e6, 1.0, -1e-4], dtype=torch.float64)) @ q.T
    Covariance.full((nearly + nearly.T) / 2)
    negative = (q * torch.tensor([1e6, 1.0, -1.0], dtype=torch.float64)) @ q.T
    with pytest.raises(ValueError, match=r"^cov: expected a positive semi-definite matrix, got eigenvalue -1$"):
        Covariance.full((negative + negative.T) / 2)
    assert Covariance.full(torch.eye(2, dtype=torch.float32) * 2).dense().dtype == torch.float64


def test_a_negative_variance_is_refused():
    with pytest.raises(ValueError, match=r"^cov: expected non-negative variances, got a negative one$"):
        Covariance.diagonal(torch.tensor([1.0, -0.5]))


def test_posterior_draws_are_mean_plus_the_symmetric_root_times_z():
    """``mean + C^(1/2) z`` with the symmetric (eigen) square root, so a singular covariance is fine."""
    from projdiff.priors.posterior import _sample_gaussian

    cov = torch.tensor([[4.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    mean, z = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    torch.testing.assert_close(_sample_gaussian(mean, cov, z), torch.tensor([2.0, -1.0], dtype=torch.float64))


def test_mixture_weights_must_be_non_negative_with_a_positive_sum():
    for weights in ([-0.5, 1.5], [0.0, 0.0]):
        with pytest.raises(ValueError, match=r"^weights: expected non-negative values with a positive sum, got \["):
            GaussianMixturePrior(torch.tensor(weights), torch.zeros(2, 2), [torch.ones(2), torch.ones(2)])


def test_sigma_column_broadcasts_a_float_or_one_level_per_item():
    from projdiff.priors.base import sigma_column

    x = torch.zeros(3, 2, 2)
    torch.testing.assert_close(sigma_column(0.5, x), torch.full((3, 1, 1), 0.5))
    torch.testing.assert_close(sigma_column(torch.tensor([1.0, 2.0, 3.0]), x), torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1))
    with pytest.raises(ValueError, match=r"^sigma: expected a float or shape \(3,\), got \(2,\)$"):
        sigma_column(torch.tensor([1.0, 2.0]), x)


def test_the_posterior_is_noise_free_unless_told_otherwise():
    from projdiff.operators import Inpainting

    prior = GaussianPrior(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    op, y = Inpainting(torch.tensor([1.0, 0.0, 1.0])), torch.tensor([[0.4, 0.0, -0.2]], dtype=torch.float64)
    default = prior.posterior(op, y)
    torch.testing.assert_close(default.means, prior.posterior(op, y, 0.0).means)
    torch.testing.assert_close(default.means[0, 0], torch.tensor([0.4, 0.0, -0.2], dtype=torch.float64))
