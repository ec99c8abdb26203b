"""Completing a SAT matrix from some of its pairs: per-model effects, a covariate and a low-rank pair term.

Over the off-diagonal pairs of N models (the diagonal, white-box success, is
always measured and never enters the fit), the model is

    SAT_ij = b_i + b_j + beta Z_ij + L_ij
        b_i = mu / 2 + a_i: per-model effects
        Z: a covariate known for every pair (the perturbation alignment of
           `archsim.sat.alignment`, from the attacks alone), or none (beta = 0)
        L: symmetric, low rank

fitted to the observed pairs by soft-impute (Mazumder, Hastie and Tibshirani,
2010) with the effects and beta unpenalised: fill the unobserved pairs (and the
diagonal) with the current fit; refit the effects and beta jointly, in closed
form, to the filled matrix less the current L; refit L from the filled matrix
less the effects and beta Z, keeping its `rank` eigenvalues of largest
magnitude, each shrunk towards 0 by `shrink` (lambda -> sign(lambda)
max(|lambda| - shrink, 0)); repeat until no filled value changes by more than
`tol` (an EM iteration: each step lowers the squared error of the filled
matrix). On a complete off-diagonal matrix F the effects are

    b_i = (R_i - B) / (N - 2),   R_i = sum_{j != i} F_ij,   B = sum_i R_i / (2N - 2)

(the normal equations of sum_{i<j} (F_ij - b_i - b_j)^2), and with Z beta is
the regression of F's residual from its additive fit on Z's (both residuals
off the diagonal; Frisch-Waugh-Lovell), the effects then fitted to F - beta Z.
With a covariate and a pair term the iteration starts from the converged fit
without the pair term (started from the observed mean, it stalled at a poor
local optimum on a planted matrix). With shrink = 0 this is hard-impute, which
recovers an exactly planted additive (+ beta Z) + rank-r matrix (tests: rank 2
from 40% of its pairs to 1e-6) but overfits measured, noisy values; the
shrinkage is what makes it predict them.

The fit is chosen by K-fold cross-validation over the observed pairs
(`choose_fit`): SHRINKS x the largest |eigenvalue| of the additive fit's
residual on the observed pairs, with the rank capped at MAX_RANK, or no pair
term at all (effects only), each with and without the covariate when one is
given, whichever has the least held-out squared error. The held-out errors of
the choice give each completed value its interval (`Completion.intervals`):
the value +- the 95% quantile of the absolute held-out errors, a
cross-validation conformal interval (valid on average over pairs when the
observed pairs are a random sample of all; an active choice makes them not
one, so the benchmark reports the coverage it reaches). `Completion.spread` is
the standard deviation of the K fold fits' values per pair: where the observed
pairs disagree, what the active choice (`archsim.sat.pair_choice`) looks at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

MAX_RANK = 8  # the rank cap of the pair term
SHRINKS = (0.025, 0.05, 0.1, 0.2, 0.4)  # shrinkages tried, x the largest |eigenvalue| of the additive residual
FOLDS = 5
ITERATIONS = 3000
TOL = 1e-6  # the largest change of a filled value at which the fit stops


class Fit(NamedTuple):
    """What a completion fits beside the per-model effects."""

    rank: int  # the pair term's rank cap (0: no pair term)
    shrink: float = 0.0  # the pair term's eigenvalue shrinkage
    covariate: bool = False  # whether beta Z enters


def additive_fit(filled: np.ndarray) -> np.ndarray:
    """b_i + b_j fitted to every off-diagonal entry of the symmetric `filled` (closed form; N >= 3)."""
    n = len(filled)
    off = ~np.eye(n, dtype=bool)
    rows = np.where(off, filled, 0.0).sum(1)
    b = (rows - rows.sum() / (2 * n - 2)) / (n - 2)
    return b[:, None] + b[None, :]


def low_rank(matrix: np.ndarray, rank: int, shrink: float = 0.0) -> np.ndarray:
    """The symmetric `matrix`'s `rank` eigenvalues of largest magnitude, each shrunk towards 0 by `shrink`, with
    their eigenvectors (shrink = 0: the best symmetric rank-`rank` approximation in the Frobenius norm)."""
    if rank == 0:
        return np.zeros_like(matrix)
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    top = np.argsort(-np.abs(values))[:rank]
    kept = np.sign(values[top]) * np.maximum(np.abs(values[top]) - shrink, 0.0)
    return (vectors[:, top] * kept) @ vectors[:, top].T


def complete(values: np.ndarray, observed: np.ndarray, rank: int, shrink: float = 0.0, *,
             covariate: np.ndarray | None = None, iterations: int = ITERATIONS,
             tol: float = TOL) -> tuple[np.ndarray, float]:
    """(fit, beta): the fitted b_i + b_j + beta Z_ij + L_ij (module docstring) on every pair, the diagonal
    included, from the symmetric `observed` (bool, N x N; the diagonal is ignored) entries of `values`; Z is
    `covariate` (beta = 0 without one)."""
    n = len(values)
    off = ~np.eye(n, dtype=bool)
    mask = observed & observed.T & off
    fit = np.full((n, n), np.mean(values[mask]) if mask.any() else 0.0)
    if covariate is not None and rank > 0:  # start from the effects + covariate fit (module docstring)
        fit = complete(values, observed, 0, covariate=covariate, iterations=iterations, tol=tol)[0]
    pair_term = np.zeros((n, n))
    z = np.zeros((n, n)) if covariate is None else np.where(off, covariate, 0.0)
    z_residual = None if covariate is None else (z - additive_fit(z))[off]
    z_norm = 0.0 if covariate is None else float(z_residual @ z_residual)
    beta = 0.0
    for _ in range(iterations):
        filled = np.where(mask, values, fit)
        target = filled - pair_term
        if z_norm > 0:
            beta = float((target - additive_fit(target))[off] @ z_residual) / z_norm
        additive = additive_fit(target - beta * z)
        pair_term = low_rank(filled - additive - beta * z, rank, shrink)
        new = additive + beta * z + pair_term
        change = np.max(np.abs(new - fit)[~mask]) if (~mask).any() else 0.0
        fit = new
        if change < tol:
            break
    return fit, beta


def folds_of(observed: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number in 0..folds-1 per observed pair i < j (-1 elsewhere), symmetric, seeded."""
    n = len(observed)
    iu = np.triu_indices(n, 1)
    pairs = np.flatnonzero(observed[iu])
    order = np.random.default_rng(seed).permutation(len(pairs))
    fold = np.full((n, n), -1)
    fold[iu[0][pairs[order]], iu[1][pairs[order]]] = np.arange(len(pairs)) % folds
    return np.maximum(fold, fold.T)


def fold_fits(values: np.ndarray, observed: np.ndarray, fit: Fit, fold: np.ndarray, folds: int,
              covariate: np.ndarray | None = None) -> np.ndarray:
    """(folds, N, N): the completion with each fold's observed pairs hidden."""
    z = covariate if fit.covariate else None
    return np.stack([complete(values, observed & (fold != k), fit.rank, fit.shrink, covariate=z)[0]
                     for k in range(folds)])


def held_out_errors(values: np.ndarray, fold: np.ndarray, fits: np.ndarray) -> np.ndarray:
    """value - prediction of each observed pair i < j, predicted by the fit that did not see it."""
    iu = np.triu_indices(len(values), 1)
    which = fold[iu]
    seen = which >= 0
    return values[iu][seen] - fits[which[seen], iu[0][seen], iu[1][seen]]


def residual_scale(values: np.ndarray, observed: np.ndarray) -> float:
    """The largest |eigenvalue| of the additive fit's residual on the observed pairs (0 elsewhere)."""
    n = len(values)
    mask = observed & ~np.eye(n, dtype=bool)
    filled = np.where(mask, values, np.mean(values[mask]))
    return float(np.max(np.abs(np.linalg.eigvalsh(np.where(mask, filled - additive_fit(filled), 0.0)))))


def choose_fit(values: np.ndarray, observed: np.ndarray, *, covariate: np.ndarray | None = None,
               folds: int = FOLDS, seed: int = 0) -> tuple[Fit, dict[Fit, float]]:
    """The `Fit` with the least mean squared held-out error over `folds` folds of the observed pairs: no pair
    term, or (MAX_RANK, s x `residual_scale`) for s in SHRINKS, each with and without the `covariate` (when
    given); and that error per option (the first of equal ones wins)."""
    fold = folds_of(observed, folds, seed)
    scale = residual_scale(values, observed)
    terms = [(0, 0.0)] + [(MAX_RANK, s * scale) for s in SHRINKS]
    options = [Fit(*t, with_z) for with_z in ([False] if covariate is None else [False, True]) for t in terms]
    errors = {o: float(np.mean(held_out_errors(values, fold, fold_fits(values, observed, o, fold, folds,
                                                                           covariate)) ** 2))
              for o in options}
    return min(errors, key=errors.get), errors


@dataclass(frozen=True)
class Completion:
    """A completed SAT matrix: observed pairs keep their values, the others are predicted."""

    values: np.ndarray  # (N, N): observed values where observed, predictions elsewhere (the diagonal as given)
    predicted: np.ndarray  # (N, N) bool: off-diagonal pairs not observed
    fit: Fit
    coefficient: float  # beta, the covariate's coefficient (0 when it was not used)
    cv_errors: dict  # mean squared held-out error per Fit tried (empty when the fit was given)
    held_out: np.ndarray  # the chosen fit's held-out errors, one per observed pair
    spread: np.ndarray  # (N, N): standard deviation of the fold fits' values

    def intervals(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(low, high): the predicted pairs' value +- the `confidence` quantile of |held-out error| (the
        ceil(confidence (m + 1))-th smallest of the m); NaN at the observed pairs (their interval is the
        measurement's own)."""
        q = self.half_width(confidence)
        low = np.where(self.predicted, self.values - q, np.nan)
        high = np.where(self.predicted, self.values + q, np.nan)
        return low, high

    def half_width(self, confidence: float = 0.95) -> float:
        """The completed values' interval half-width (`intervals`)."""
        m = len(self.held_out)
        if m == 0:
            return float("inf")
        level = min(1.0, np.ceil(confidence * (m + 1)) / m)
        return float(np.quantile(np.abs(self.held_out), level, method="higher"))

    @property
    def rank(self) -> int:
        return self.fit.rank

    @property
    def shrink(self) -> float:
        return self.fit.shrink

    @property
    def cv_rmse(self) -> float:
        return float(np.sqrt(np.mean(self.held_out ** 2))) if len(self.held_out) else float("nan")


def complete_sat(values: np.ndarray, observed: np.ndarray, *, covariate: np.ndarray | None = None,
                 fit: Fit | None = None, folds: int = FOLDS, seed: int = 0) -> Completion:
    """Complete the symmetric SAT matrix `values` from its `observed` pairs (module docstring), with the
    pair `covariate` Z when given; `fit` None: chosen by cross-validation. The diagonal is kept as given."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    observed = np.asarray(observed, dtype=bool) & np.asarray(observed, dtype=bool).T
    check_observed(observed)
    if covariate is not None and not np.isfinite(covariate[~np.eye(n, dtype=bool)]).all():
        raise ValueError("the completion's covariate must be finite on every pair")
    cv = {}
    if fit is None:
        fit, cv = choose_fit(values, observed, covariate=covariate, folds=folds, seed=seed)
    fit = Fit(*fit)
    fold = folds_of(observed, folds, seed)
    fits = fold_fits(values, observed, fit, fold, folds, covariate)
    off = ~np.eye(n, dtype=bool)
    whole, beta = complete(values, observed, fit.rank, fit.shrink, covariate=covariate if fit.covariate else None)
    out = np.where(observed & off, values, whole)
    np.fill_diagonal(out, np.diag(values))
    return Completion(out, off & ~observed, fit, beta, cv, held_out_errors(values, fold, fits), fits.std(0))


def check_observed(observed: np.ndarray) -> None:
    """ValueError unless every model has an observed pair and there are at least 3 models."""
    n = len(observed)
    if n < 3:
        raise ValueError(f"completion needs at least 3 models; got {n}")
    lonely = np.flatnonzero((observed & ~np.eye(n, dtype=bool)).sum(1) == 0)
    if len(lonely):
        raise ValueError(f"{len(lonely)} model(s) have no observed pair (e.g. index {lonely[0]}); each needs one")
