"""ProjDiff's start is centred on the data: ``prior.data_center + sigmas[0] z``, not ``sigmas[0] z``."""

import torch

import projdiff
from projdiff.operators import Inpainting
from projdiff.priors import AffinePrior, GaussianPrior, Prior


class Recording(Prior):
    """A prior that records the inputs of its denoiser."""

    def __init__(self, prior: Prior):
        super().__init__()
        self.prior, self.inputs = prior, []
        self.shape, self.sigma_min, self.sigma_max = prior.shape, prior.sigma_min, prior.sigma_max
        self.sigma_data, self.data_center = prior.sigma_data, prior.data_center

    def denoise(self, x, sigma):
        self.inputs.append(x.clone())
        return self.prior.denoise(x, sigma)


def test_the_first_denoiser_input_is_centred_on_the_data():
    prior = Recording(GaussianPrior(torch.full((1024,), 3.0), torch.eye(1024)))
    assert torch.equal(prior.data_center, torch.full((1024,), 3.0, dtype=torch.float64))
    op = Inpainting(torch.zeros(1024))            # nothing observed: the start alone decides the centre
    projdiff.solve(op, prior, torch.zeros(1, 1024), steps=3, seed=0, progress=False)
    first = prior.inputs[0]
    assert abs(float(first.mean()) - 3.0) < 0.5   # sigmas[0] = 4 sigma_data = 4: standard error 4 / 32


def test_pixels_of_a_diffusers_prior_are_centred_at_one_half(tiny_prior_dir):
    pixels = AffinePrior.unit_interval(projdiff.load_prior(tiny_prior_dir))
    assert pixels.data_center == 0.5 and pixels.prior.data_center == 0.0
