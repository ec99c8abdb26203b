"""Linear predictivity: how well a ridge regression from one representation predicts the other, on held-out
examples (the "neural predictivity" of Yamins et al., PNAS 2014, and Schrimpf et al.'s Brain-Score, 2018,
here between two networks; the linear-regression measure of ReSi, Klabunde et al., ICLR 2025).

The n examples are split into `folds` seeded folds (numpy default_rng(seed).permutation, then
contiguous, sizes differing by at most 1). For each fold, on the other examples, ridge with an
unpenalised intercept maps X (n x p) to Y (n x q):

    W = argmin ||Yc - Xc W||_F^2 + lambda ||W||_F^2,   Xc, Yc centred by the training means,
    lambda = ridge x ||Xc||_F^2                       (relative, so invariant to the scale of X),

and predicts the held-out fold, Y^ = (X - mean_train X) W + mean_train Y. The score is the
cross-validated, variance-weighted R^2 over all held-out predictions and all q outputs:

    R^2(X -> Y) = 1 - sum ||Y - Y^||^2 / sum ||Y - mean_train Y||^2      (each fold's own training mean)

It is at most 1 and may be negative. It is invariant to rotations and isotropic scale of X and of Y
and to permutations of their units; not to scaling one unit of Y (the R^2 weighs the outputs by
their variance), and not symmetric:
R^2(X -> Y) != R^2(Y -> X) in general (a rich X predicts a poor Y well, not the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_features


def fold_indices(n: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """The held-out indices of each fold: a seeded permutation of range(n) cut into `folds` near-equal parts."""
    if not 2 <= folds <= n // 2:
        raise ArchsimError(f"{folds} folds need 2 <= folds <= n / 2 with n = {n} examples")
    order = np.random.default_rng(seed).permutation(n)
    return [order[p] for p in np.array_split(np.arange(n), folds)]


@dataclass(frozen=True)
class Predictor:
    """Per fold, the ridge smoother of one X: Y^_test = mean_train Y + S_f (Y_train - mean_train Y)."""

    smoothers: list[torch.Tensor]  # (n_test, n_train) per fold


def predictor(x, folds: list[np.ndarray], ridge: float, name: str = "x") -> Predictor:
    """The smoother S_f = (X_test - m) V diag(s / (s^2 + lambda)) U^T of each fold (SVD of the centred X_train)."""
    if not ridge > 0:
        raise ArchsimError(f"ridge must be > 0; got {ridge}")
    x = as_features(x, name)
    n, smoothers = x.shape[0], []
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        mean = x[train].mean(dim=0, keepdim=True)
        xc = x[train] - mean
        u, s, vh = torch.linalg.svd(xc, full_matrices=False)
        lam = ridge * float((s ** 2).sum())
        if lam == 0:
            raise ArchsimError(f"{name} is constant on a training fold; no regression from it is defined")
        smoothers.append(((x[test] - mean) @ vh.T) * (s / (s ** 2 + lam))[None, :] @ u.T)
    return Predictor(smoothers)


@dataclass(frozen=True)
class Target:
    """Per fold, one Y as the regressions need it: Y_train and Y_test minus the training mean."""

    train: list[torch.Tensor]
    test: list[torch.Tensor]
    total: float  # sum over the folds of ||Y_test - mean_train Y||^2


def target(y, folds: list[np.ndarray], name: str = "y") -> Target:
    """Y centred by each fold's training mean; ArchsimError when Y is constant."""
    y = as_features(y, name)
    train, test = [], []
    for held_out in folds:
        rest = np.setdiff1d(np.arange(y.shape[0]), held_out)
        mean = y[rest].mean(dim=0, keepdim=True)
        train.append(y[rest] - mean)
        test.append(y[held_out] - mean)
    total = float(sum((t ** 2).sum() for t in test))
    if total == 0:
        raise ArchsimError(f"{name} is constant; its R^2 is undefined")
    return Target(train, test, total)


def predictivity(p: Predictor, t: Target) -> float:
    """R^2(X -> Y), X the representation behind `p`, Y behind `t` (the same folds)."""
    if len(p.smoothers) != len(t.train) or any(s.shape[1] != len(y) for s, y in zip(p.smoothers, t.train)):
        raise ArchsimError("x and y must hold the same examples in the same folds")
    sse = sum(float(((test - smoother @ train) ** 2).sum()) for smoother, train, test in zip(p.smoothers, t.train,
                                                                                          t.test))
    return 1 - sse / t.total


def linear_predictivity(x, y, *, folds: int = 5, ridge: float = 1e-3, seed: int = 0) -> float:
    """R^2(X -> Y) for two (n, p) arrays."""
    x = as_features(x, "x")
    split = fold_indices(x.shape[0], folds, seed)
    return predictivity(predictor(x, split, ridge), target(y, split))
