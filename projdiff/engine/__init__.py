"""The solver engine: sigma-space samplers that take any prior and any operator.

Nothing here knows about images, audio or CT; inputs are tensors of the operator's input shape.
"""

from projdiff.engine.projdiff_sampler import DivergenceError, sample_projdiff
from projdiff.engine.result import SolveResult
from projdiff.engine.schedules import karras_sigmas, linear_beta_alphas_cumprod, projdiff_sigmas, strided_vp_sigmas
from projdiff.engine.solve import METHODS, default_sigmas, solve

__all__ = ["METHODS", "DivergenceError", "SolveResult", "default_sigmas", "karras_sigmas",
           "linear_beta_alphas_cumprod", "projdiff_sigmas", "sample_projdiff", "solve", "strided_vp_sigmas"]
