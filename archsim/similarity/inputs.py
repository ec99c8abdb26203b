"""Representations as the representation measures take them, checked at the boundary, and their minibatches.

A representation is an (n, p) matrix: n examples (rows, the same examples in
the same order for both representations compared) by p features. Numpy arrays
and torch tensors are accepted; (n, d1, d2, ...) activations are flattened to
(n, d1*d2*...). The measures compute in float64 (the minibatch Gram products
excepted, see `archsim.similarity.cka_minibatch`).
"""

from __future__ import annotations

import numpy as np
import torch

from archsim.errors import ArchsimError

_EPS64 = float(np.finfo(np.float64).eps)


def as_features(x, name: str = "x", *, keep_float32: bool = False) -> torch.Tensor:
    """`x` as a float64 (n, p) tensor; ArchsimError for fewer than 2 dims, no features, NaN or Inf.

    With `keep_float32`, float32 (and narrower floating) input becomes float32 instead.
    """
    try:
        t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError):
        raise ArchsimError(f"{name} must be a numeric array; got {type(x).__name__}") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise ArchsimError(f"{name} must hold real numbers; got dtype {t.dtype}")
    if t.ndim < 2:
        raise ArchsimError(f"{name} must be (n_examples, n_features); got shape {tuple(t.shape)}")
    narrow = t.is_floating_point() and torch.finfo(t.dtype).bits <= 32
    t = t.reshape(t.shape[0], -1).to(torch.float32 if keep_float32 and narrow else torch.float64)
    if t.shape[1] == 0:
        raise ArchsimError(f"{name} has no features (shape {tuple(t.shape)})")
    if not torch.isfinite(t.sum()) and not torch.isfinite(t).all():  # NaN and Inf propagate into the sum
        raise ArchsimError(f"{name} contains NaN or Inf")
    return t


def input_eps(x) -> float:
    """Machine epsilon of `x`'s own floating type (float32 activations are only that precise)."""
    if isinstance(x, torch.Tensor):
        return torch.finfo(x.dtype).eps if x.is_floating_point() else _EPS64
    dtype = np.asarray(x).dtype
    return float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else _EPS64


def as_pair(x, y, *, min_examples: int, why: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both representations as float64 (n, p) tensors with the same n >= min_examples."""
    x, y = as_features(x, "x"), as_features(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ArchsimError(f"x and y must hold the same examples: x has {x.shape[0]} rows, y has {y.shape[0]}")
    if x.shape[0] < min_examples:
        raise ArchsimError(f"{why} needs at least {min_examples} examples; got {x.shape[0]}")
    return x, y


def is_constant(x: torch.Tensor) -> bool:
    """True when every row of x equals the first (O(p) unless the first two rows agree)."""
    return bool((x[1:2] == x[:1]).all()) and bool((x == x[:1]).all())


def center_features(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """x minus its column means; ArchsimError when x is constant across the examples.

    No measure of similarity is defined for a representation that does not vary.
    (A constant column of a varying x becomes a column of one rounding residual,
    which every centring of the Gram matrix removes.)
    """
    if is_constant(x):
        raise ArchsimError(f"{name} is constant across the {x.shape[0]} examples; its similarity is undefined")
    return x - x.mean(dim=0, keepdim=True)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """ceil(n / batch_size) consecutive slices covering range(n), sizes differing by at most 1.

    Balanced, so a stream never ends on a batch of a few examples (which the
    unbiased estimators, needing 4, could not use).
    """
    if batch_size < 1:
        raise ArchsimError(f"batch_size must be >= 1; got {batch_size}")
    k = -(-n // batch_size)
    bounds = [round(i * n / k) for i in range(k + 1)] if k else [0]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
