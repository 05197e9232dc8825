"""Forward-operator contract: ``Operator`` (any differentiable map) and ``LinearOperator``.

Shapes. An operator maps tensors of shape ``(*batch, *input_shape)`` to ``(*batch, *output_shape)``
for any number of leading batch dimensions (the solver uses two: samples and inputs). Operator
parameters such as masks may carry their own leading batch dimension, which then broadcasts
against the trailing batch dimension of ``x`` (one mask per input image).

Ladder of capabilities (a solver asks for the weakest one it needs):

- ``Operator``: ``forward``, ``project`` (onto ``{A(x) = y}``, approximate when ``A`` is
  nonlinear) and ``equivalent_noise``.
- ``LinearOperator``: adds ``adjoint`` (by autograd unless given), ``pinv`` (closed form for tight
  frames, else a dense SVD up to ``DENSE_SPECTRAL_LIMIT`` input entries, else conjugate gradients
  on ``A A^T``, unless given) and the exact projection ``x + pinv(y - A x)``.
- ``spectral()``: a ``Spectral`` decomposition ``A = U diag(s) V^T``, so that ProjDiff can give
  each mode its own equivalent noise level ``sigma_y / s_i``. Operators whose singular values
  differ give it in closed form (blur: Fourier; dense matrices: their SVD). Any other linear
  operator that is not ``tight`` (a function-defined one, say) gets a dense SVD of its matrix,
  materialised by forward passes, when an item has at most ``DENSE_SPECTRAL_LIMIT`` (4096)
  entries (``dense()``, ``operators/dense.py``), and ``None`` above that size.
- ``tight``: all nonzero singular values are equal (``A A^T = c I`` on the range of ``A``), so one
  equivalent noise level ``equivalent_noise(sigma_y)`` is exact for every observed direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from projdiff.operators._common import Shape, as_shape, check_trailing, flat_apply
from projdiff.operators.dense import DENSE_SPECTRAL_LIMIT, DenseSVD, dense_svd
from projdiff.operators.linalg import conjugate_gradient, trace_estimate
from projdiff.operators.projection import trust_region_projection


@dataclass(frozen=True)
class Spectral:
    """A singular value decomposition ``A = U diag(s) V^T`` in matrix-free form.

    Attributes
    ----------
    to_modes : callable
        ``x (*batch, *input_shape) -> V^T x (*batch, *mode_shape)``; may be complex (Fourier).
    from_modes : callable
        ``z -> V z``, the inverse of ``to_modes`` (real output of shape ``(*batch, *input_shape)``).
    singular_values : tensor of shape mode_shape, real, >= 0
        Zero on the null space and on modes the operator's ``pinv`` truncates.
    """

    to_modes: Callable[[torch.Tensor], torch.Tensor]
    from_modes: Callable[[torch.Tensor], torch.Tensor]
    singular_values: torch.Tensor


class Operator(torch.nn.Module):
    """A differentiable forward operator ``y = A(x)``.

    Subclasses implement ``forward`` and, where they can do better than the generic trust-region
    Gauss-Newton projection (``project_tol``, ``project_max_iter``), ``project``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one input item, without batch dimensions (e.g. ``(C, H, W)``).
    noise_gain : float, optional
        ``k`` in ``equivalent_noise(sigma_y) = k * sigma_y``: the noise level on ``x`` that is
        equivalent to measurement noise ``sigma_y``. Default 1.
    """

    linear: bool = False
    project_tol: float = 1e-4
    project_max_iter: int = 100

    def __init__(self, input_shape: Sequence[int], noise_gain: float | None = None):
        super().__init__()
        self.input_shape: Shape = as_shape(input_shape, "input_shape")
        self._noise_gain = noise_gain
        self._output_shape: Shape | None = None

    @property
    def output_shape(self) -> Shape:
        """Shape of one measurement item (found by one forward pass unless a subclass sets it)."""
        if self._output_shape is None:
            with torch.no_grad():
                probe = torch.zeros((1, *self.input_shape), device=self._device())
                self._output_shape = tuple(self.forward(probe).shape[1:])
        return self._output_shape

    def _device(self) -> torch.device:
        for t in list(self.buffers()) + list(self.parameters()):
            return t.device
        return torch.device("cpu")

    def batch_shape(self, x: torch.Tensor) -> torch.Size:
        """Leading batch dimensions of an input ``x`` (raises if the trailing ones are wrong)."""
        return check_trailing(x, self.input_shape, "x")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A point near ``x`` with ``A(x) = y``: trust-region Gauss-Newton steps.

        See ``operators/projection.py``: the orthogonal projection for a linear ``A``, a nearby
        point of the constraint set otherwise; stops per item at ``||y - A(x)|| <= project_tol *
        (1 + ||y||)`` and raises ``ProjectionError`` when an item does not get there in
        ``project_max_iter`` steps.
        """
        return trust_region_projection(self.forward, x, y, len(self.output_shape), tol=self.project_tol,
                                       max_iter=self.project_max_iter)

    def noise_gain(self) -> float:
        """``k`` such that noise ``sigma_y`` on ``y`` is equivalent to noise ``k * sigma_y`` on ``x``."""
        return 1.0 if self._noise_gain is None else float(self._noise_gain)

    def equivalent_noise(self, sigma_y: float | torch.Tensor) -> float | torch.Tensor:
        """Noise level ``sigma_a = noise_gain() * sigma_y`` of the auxiliary variable ``x_a``."""
        return sigma_y * self.noise_gain()

    def spectral(self) -> Spectral | None:
        """The operator's SVD in matrix-free form, or ``None`` when it does not have a cheap one."""
        return None

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}"


class LinearOperator(Operator):
    """A linear operator, given by subclassing or by a function.

    Parameters
    ----------
    forward_fn : callable, optional
        ``x (N, *input_shape) -> y (N, *output_shape)``, linear and differentiable by torch.
        Leading batch dimensions are flattened into ``N`` before the call.
    input_shape : sequence of int
    adjoint_fn : callable, optional
        ``y (N, *output_shape) -> x (N, *input_shape)``. Default: the exact adjoint by autograd
        (``torch.func.vjp`` of ``forward_fn``).
    frame_constant : float, optional
        ``c`` when the rows are a tight frame, ``A A^T = c I`` (exact ``noise_gain = 1/sqrt(c)``;
        ``tight`` is then true). Otherwise the operator is not ``tight``: ``spectral()`` and
        ``pinv`` use a dense SVD of its matrix (computed once, on first use, for items of at
        most ``DENSE_SPECTRAL_LIMIT`` entries; conjugate gradients above) and ``noise_gain`` is
        ``sqrt(m / trace(A^T A))`` (estimated once), an average that the solver uses only when
        asked to (``per_mode=False``).

    Examples
    --------
    >>> import torch
    >>> from projdiff.operators import LinearOperator
    >>> A = LinearOperator(lambda x: x[..., ::2], input_shape=(6,))
    >>> A(torch.arange(6.0)[None])
    tensor([[0., 2., 4.]])
    >>> A.adjoint(torch.ones(1, 3))
    tensor([[1., 0., 1., 0., 1., 0.]])
    """

    linear = True

    def __init__(self, forward_fn: Callable | None = None, input_shape: Sequence[int] | None = None,
                 adjoint_fn: Callable | None = None, *, frame_constant: float | None = None,
                 cg_tol: float = 1e-6, cg_max_iter: int = 500):
        if input_shape is None:
            raise TypeError("input_shape: expected the shape of one input item, got None")
        super().__init__(input_shape)
        self._forward_fn = forward_fn
        self._adjoint_fn = adjoint_fn
        self.frame_constant = frame_constant
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self._dense: DenseSVD | None = None

    @property
    def tight(self) -> bool:
        """Whether all nonzero singular values are equal (``A A^T = c I``): true when ``frame_constant`` is set."""
        return self.frame_constant is not None

    def dense(self) -> DenseSVD | None:
        """The truncated SVD of the operator's matrix, or ``None`` for tight or large operators.

        Computed on the first call and kept (``operators/dense.py``: the matrix from forward passes
        over the identity, then the eigen-decomposition of ``M^T M`` in float64; singular values
        below ``1e-6 * max`` count as zero); a new operator is needed if ``forward`` changes.
        ``None`` when the operator is ``tight`` (closed forms are exact and cheaper) or an item
        has more than ``DENSE_SPECTRAL_LIMIT`` entries.
        """
        if self.tight or math.prod(self.input_shape) > DENSE_SPECTRAL_LIMIT:
            return None
        if self._dense is None:
            self._dense = dense_svd(self)
        return self._dense

    def spectral(self) -> Spectral | None:
        """``None`` for a tight operator (one noise level is exact); else the dense SVD (``dense()``).

        Items of more than ``DENSE_SPECTRAL_LIMIT`` entries get ``None``: give such operators a
        ``frame_constant`` or a ``spectral()`` of their own.
        """
        svd = self.dense()
        return None if svd is None else Spectral(svd.to_modes, svd.from_modes, svd.values.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._forward_fn is None:
            raise NotImplementedError(f"{type(self).__name__}.forward")
        self.batch_shape(x)
        return flat_apply(self._forward_fn, x, self.input_shape)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y``: shape ``(*batch, *output_shape) -> (*batch, *input_shape)``."""
        lead = check_trailing(y, self.output_shape, "y")
        if self._adjoint_fn is not None:
            return flat_apply(self._adjoint_fn, y, self.output_shape)
        zeros = torch.zeros((*lead, *self.input_shape), dtype=y.dtype, device=y.device)
        with torch.enable_grad():
            _, vjp = torch.func.vjp(self.forward, zeros)
            return vjp(y)[0]

    def gram(self, y: torch.Tensor) -> torch.Tensor:
        """``A A^T y`` on measurements."""
        return self.forward(self.adjoint(y))

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """Minimum-norm least-squares solution ``A^+ y = A^T (A A^T)^+ y``.

        Closed form for tight frames; the truncated dense SVD (``dense()``) up to
        ``DENSE_SPECTRAL_LIMIT`` input entries; conjugate gradients on ``A A^T`` above.
        """
        if self.frame_constant is not None:
            return self.adjoint(y) / self.frame_constant
        svd = self.dense()
        if svd is not None:
            lead = check_trailing(y, self.output_shape, "y")
            return svd.pinv(y.reshape(*lead, -1))
        z = conjugate_gradient(self.gram, y, len(self.output_shape), tol=self.cg_tol, max_iter=self.cg_max_iter)
        return self.adjoint(z)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Orthogonal projection of ``x`` onto ``{x : A x = y}``: ``x + A^+ (y - A x)``."""
        return x + self.pinv(y - self.forward(x))

    def gram_solve(self, v: torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
        """``(A A^T + shift I)^-1 v`` on measurements (``shift >= 0``; 0 gives the pseudo-inverse).

        ``shift`` may be a tensor broadcastable to ``v`` (one value per item).

        Closed form for tight frames, conjugate gradients otherwise. Solvers use it for
        regularised least squares, e.g. ``argmin_z ||A z - y||^2 + rho ||z - x||^2 =
        x + A^T gram_solve(y - A x, rho)``.
        """
        if self.frame_constant is not None:
            return v / (self.frame_constant + shift)
        return conjugate_gradient(lambda z: self.gram(z) + shift * z, v, len(self.output_shape), tol=self.cg_tol,
                                  max_iter=self.cg_max_iter)

    def prox(self, x: torch.Tensor, y: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:
        """``argmin_z ||A z - y||^2 + rho ||z - x||^2`` (``rho = 0``: the projection onto ``{A z = y}``).

        ``rho`` is a float or a tensor broadcastable to the measurements (one value per item).
        """
        if not torch.is_tensor(rho) and rho == 0:
            return self.project(x, y)
        return x + self.adjoint(self.gram_solve(y - self.forward(x), rho))

    def noise_gain(self) -> float:
        if self._noise_gain is None:
            if self.frame_constant is not None:
                self._noise_gain = 1.0 / math.sqrt(self.frame_constant)
            else:
                m = math.prod(self.output_shape)
                with torch.no_grad():
                    trace = trace_estimate(lambda v: self.adjoint(self.forward(v)), self.input_shape,
                                           device=self._device())
                self._noise_gain = math.sqrt(m / trace)
        return self._noise_gain
