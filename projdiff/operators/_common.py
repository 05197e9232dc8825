"""Small helpers shared by the operator modules: argument validation, dtype casting, flattening.

Every validator raises ``ValueError`` or ``TypeError`` with a one-line message of the form
``"<argument>: expected <what>, got <value>"``.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import torch

Shape = tuple[int, ...]


def as_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as a Python int in ``[minimum, maximum]`` (bools and non-integral floats rejected)."""
    if minimum is not None and maximum is not None:
        bounds = f" in [{minimum}, {maximum}]"
    elif minimum is not None:
        bounds = f" >= {minimum}"
    else:
        bounds = "" if maximum is None else f" <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int{bounds}, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name}: expected an int{bounds}, got {value}")
    return value


def as_float(value, name: str, *, positive: bool = False) -> float:
    """``value`` as a finite Python float (strictly positive when ``positive``)."""
    what = "a positive finite number" if positive else "a finite number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {what}, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name}: expected {what}, got {value}")
    return value


def as_shape(value: Sequence[int], name: str, *, min_dims: int = 1) -> Shape:
    """``value`` as a tuple of positive ints with at least ``min_dims`` entries."""
    try:
        shape = tuple(value)
    except TypeError:
        raise TypeError(f"{name}: expected a sequence of positive ints, got {value!r}") from None
    if len(shape) < min_dims or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                                    for v in shape):
        raise ValueError(f"{name}: expected a sequence of at least {min_dims} positive ints, got {value!r}")
    return tuple(int(v) for v in shape)


def as_real_tensor(value, name: str) -> torch.Tensor:
    """``value`` (tensor, array or nested sequence) as a finite floating tensor (float32 unless float64)."""
    try:
        t = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name}: expected a real tensor or array, got {type(value).__name__}") from None
    if t.is_complex():
        raise TypeError(f"{name}: expected a real tensor, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return t.detach().clone()


def cast(buffer: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``buffer`` on ``like``'s device, in ``like``'s real dtype when ``buffer`` is floating."""
    dtype = like.real.dtype if buffer.is_floating_point() else buffer.dtype
    return buffer.to(device=like.device, dtype=dtype)


def check_trailing(t: torch.Tensor, shape: Shape, name: str) -> torch.Size:
    """Leading batch shape of ``t``, whose trailing dimensions must equal ``shape``."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    n = len(shape)
    if t.dim() < n or tuple(t.shape[t.dim() - n:]) != tuple(shape):
        raise ValueError(f"{name}: expected shape (*batch, {', '.join(map(str, shape))}), got {tuple(t.shape)}")
    return t.shape[: t.dim() - n]


def flatten_item(t: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Merge the last ``event_dims`` dimensions into one: ``(*batch, *event) -> (*batch, prod(event))``."""
    return t.reshape(*t.shape[: t.dim() - event_dims], -1)


def flat_apply(fn: Callable[[torch.Tensor], torch.Tensor], t: torch.Tensor, in_shape: Shape) -> torch.Tensor:
    """Call ``fn`` on ``t`` with its leading batch dimensions flattened to one, then restore them."""
    lead = t.shape[: t.dim() - len(in_shape)]
    out = fn(t.reshape(-1, *in_shape))
    return out.reshape(*lead, *out.shape[1:])


def frobenius_noise_gain(measurements: int, frobenius_sq: float) -> float:
    """Exact ``sqrt(m / trace(A^T A))`` from the squared Frobenius norm ``trace(A^T A)``."""
    if frobenius_sq <= 0:
        raise ValueError("operator: expected a nonzero operator, got trace(A^T A) = 0")
    return math.sqrt(measurements / frobenius_sq)


def check_generator(generator, name: str = "generator") -> torch.Generator | None:
    """``generator`` unchanged when it is ``None`` or a ``torch.Generator``; ``TypeError`` otherwise."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name}: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator
