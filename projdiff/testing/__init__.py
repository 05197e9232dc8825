"""What the test suite and users both run to check solvers and operators against the truth.

- ``check_operator``: the operator contract (adjointness, projection, pseudo-inverse, spectral
  decomposition), for your own operators too;
- ``example_operators`` / ``example_per_item_operators``: small instances of every operator;
- ``conformance``: exact-posterior problems (Gaussian and Gaussian-mixture priors) and the figures
  that score a solver against them.
"""

from projdiff.testing.example_operators import example_operators, example_per_item_operators
from projdiff.testing.operator_contract import OperatorContractError, check_operator

__all__ = ["OperatorContractError", "check_operator", "example_operators", "example_per_item_operators"]
