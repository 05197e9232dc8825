"""The training loss of diffusers UNets (``priors/prediction.py``) against oracles that know the answer.

An oracle network recovers the exact target from the noisy input (the data are known to it), so the loss
must be 0 for every prediction type, and a known error in its output must come back as the loss.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from diffusers import DDPMScheduler

from projdiff.priors.prediction import denoising_loss, heldout_loss, log_sigma_uniform_weights


def scheduler(kind: str) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=50, prediction_type=kind)


class Oracle:
    """Outputs the exact target for known clean data ``x0`` (recovering the noise from ``x_t``), plus ``error``."""

    def __init__(self, sched: DDPMScheduler, x0: torch.Tensor, error: float = 0.0, condition_channels: int = 0):
        self.sched, self.x0, self.error = sched, x0, error
        self.config = SimpleNamespace(in_channels=x0.shape[1] + condition_channels, out_channels=x0.shape[1])
        self.seen = []

    def __call__(self, inputs: torch.Tensor, t: torch.Tensor):
        self.seen.append((inputs, t))
        xt = inputs[:, : self.x0.shape[1]]
        abar = self.sched.alphas_cumprod[t].view(-1, 1, 1, 1)
        noise = (xt - abar.sqrt() * self.x0) / (1 - abar).sqrt()
        target = {"epsilon": noise, "v_prediction": abar.sqrt() * noise - (1 - abar).sqrt() * self.x0,
                  "sample": self.x0}[self.sched.config.prediction_type]
        return SimpleNamespace(sample=target + self.error)


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_an_oracle_has_zero_loss_and_a_known_error_is_its_square(kind: str) -> None:
    sched = scheduler(kind)
    x0 = torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for error in (0.0, 0.3):
        loss = denoising_loss(Oracle(sched, x0, error), sched, x0, torch.Generator().manual_seed(1))
        assert float(loss) == pytest.approx(error**2, abs=1e-6)


def test_time_steps_and_noise_are_drawn_from_the_generator_in_that_order() -> None:
    """``t ~ U{0, ..., T-1}`` first, then the noise, both from ``generator``: a seed fixes the loss."""
    sched = scheduler("epsilon")
    x0 = torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    oracle = Oracle(sched, x0)
    denoising_loss(oracle, sched, x0, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    t = torch.randint(50, (64,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    inputs, seen_t = oracle.seen[0]
    assert torch.equal(seen_t, t)
    torch.testing.assert_close(inputs, sched.add_noise(x0, noise, t))


def test_the_condition_is_concatenated_unnoised_and_not_part_of_the_target() -> None:
    sched = scheduler("sample")
    batch = torch.randn(4, 3, 4, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    oracle = Oracle(sched, batch[:, :2], condition_channels=1)
    assert float(denoising_loss(oracle, sched, batch, torch.Generator().manual_seed(5), 1)) == pytest.approx(0.0)
    inputs, _ = oracle.seen[0]
    assert inputs.shape == batch.shape
    torch.testing.assert_close(inputs[:, 2:], batch[:, 2:])


def test_heldout_loss_is_the_mean_over_items_whatever_the_chunks() -> None:
    """Five items in chunks of 3 and 2; the oracle errs by the item's condition value, so the loss is its mean square."""
    sched = scheduler("epsilon")
    values = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.9], dtype=torch.float64)
    data = torch.zeros(5, 2, 2, 2, dtype=torch.float64)
    data[:, 1] = values.view(-1, 1, 1)

    class ConditionOracle(Oracle):
        def __call__(self, inputs, t):
            out = super().__call__(inputs, t).sample
            return SimpleNamespace(sample=out + inputs[:, 1:])

    oracle = ConditionOracle(sched, torch.zeros(1, 1, 2, 2, dtype=torch.float64), condition_channels=1)
    expected = float((values**2).mean())
    assert heldout_loss(oracle, sched, data, batch_size=3) == pytest.approx(expected, abs=1e-6)
    assert heldout_loss(oracle, sched, data, batch_size=5) == pytest.approx(expected, abs=1e-6)
    assert [inputs.shape[0] for inputs, _ in oracle.seen[:2]] == [3, 2]


def test_log_sigma_uniform_weights_cover_the_range_uniformly_in_log_sigma() -> None:
    """The probability of a sigma interval inside the range is its share of the range's log width."""
    sched = DDPMScheduler(num_train_timesteps=1000)
    abar = sched.alphas_cumprod.double()
    sigma = ((1 - abar) / abar).sqrt()
    weights = log_sigma_uniform_weights(sched, (0.04, 1.0)).double()
    inside = (sigma >= 0.04) & (sigma <= 1.0)
    assert float(weights.sum()) == pytest.approx(1.0) and bool((weights[~inside] == 0).all())
    assert bool((weights[inside] > 0).all())
    first, last = int(inside.nonzero()[0]), int(inside.nonzero()[-1])
    # the steps of sigma 0.04..0.2 carry log(0.2/0.04) / log(1/0.04) of the mass, up to one step's width
    low_half = (sigma >= 0.04) & (sigma <= 0.2)
    share = float(weights[low_half].sum())
    expected = float((sigma[low_half].max() / sigma[first - 1]).log() / (sigma[last] / sigma[first - 1]).log())
    assert share == pytest.approx(expected, abs=1e-6)
    assert 0.45 < share < 0.55  # log(5) / log(25) = 0.5


def test_weighted_time_steps_are_drawn_from_the_weights() -> None:
    sched = scheduler("epsilon")
    x0 = torch.zeros(200, 1, 2, 2, dtype=torch.float64)
    weights = torch.zeros(50)
    weights[[3, 7]] = torch.tensor([0.25, 0.75])
    oracle = Oracle(sched, x0)
    assert float(denoising_loss(oracle, sched, x0, torch.Generator().manual_seed(6), 0, weights)) == pytest.approx(0.0)
    _, t = oracle.seen[0]
    assert set(t.tolist()) == {3, 7} and 0.6 < float((t == 7).double().mean()) < 0.9


@pytest.mark.parametrize("bad", [(2.0, 1.0), (0.0, 1.0), (1e3, 1e4)])
def test_a_sigma_range_outside_the_schedule_is_one_clear_error(bad) -> None:
    with pytest.raises(ValueError, match="sigma_range: expected 0 < low < high"):
        log_sigma_uniform_weights(DDPMScheduler(num_train_timesteps=1000), bad)
