"""projdiff: inverse problems with diffusion priors.

>>> result = projdiff.solve(operator, prior, y, sigma_y=0.05)  # doctest: +SKIP
"""

from projdiff.engine import DivergenceError, SolveResult, solve
from projdiff.priors import load_prior

__version__ = "0.1.0"

__all__ = ["DivergenceError", "SolveResult", "load_prior", "solve"]
