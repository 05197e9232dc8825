"""Priors: denoisers ``D(x, sigma)`` in sigma-space, analytic (with exact posteriors) and learned."""

from projdiff.priors.affine import AffinePrior
from projdiff.priors.base import Prior
from projdiff.priors.covariance import Covariance
from projdiff.priors.diffusers_prior import DiffusersPrior
from projdiff.priors.gaussian import GaussianMixturePrior, GaussianPrior
from projdiff.priors.guided_diffusion import ADM_PRESETS, ADMArchitecture, load_adm_prior
from projdiff.priors.independent import IndependentPriors
from projdiff.priors.loading import bundled_priors, load_prior
from projdiff.priors.msdm import MSDMPrior, load_msdm_prior

GMMPrior = GaussianMixturePrior

__all__ = ["ADM_PRESETS", "ADMArchitecture", "AffinePrior", "Covariance", "DiffusersPrior", "GMMPrior",
           "GaussianMixturePrior", "GaussianPrior", "IndependentPriors", "MSDMPrior", "Prior", "bundled_priors",
           "load_adm_prior", "load_msdm_prior", "load_prior"]
