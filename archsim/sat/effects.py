"""Per-model effects in SAT, the pair term that is left for similarity, and R^2 beside its null.

A model that any perturbation fools gets a high SAT with everybody: its row
measures fragility, not similarity. Over the measured off-diagonal pairs i < j
(censored pairs, at the floor ln(eps_s), are left out: `archsim.sat.censoring`)
fit, by least squares,

    SAT_ij = mu + a_i + a_j + r_ij          (a_i: model i's per-model effect, sum_i a_i = 0)

`r2` is the share of the fitted pairs' SAT variance that mu + a_i + a_j explains,
and the pair term r_ij (the residual) is `sat-adjusted`, registered as a measure:
symmetric, larger = more similar than the two models' per-model effects predict,
NaN on the diagonal and at censored pairs. With the directional transfer rates
the same fit splits the per-model effect into a source (attacker strength) and a
target (fragility) term, with no pair term (the residual e_ij is what is left):

    ln(100 transfer_ij) = mu + s_i + t_j + e_ij      (i != j; directions with 100 transfer_ij <= eps_s left out)

**R^2 has a chance level.** On exchangeable noise (pair values with no per-model
structure: any permutation of the m fitted values is as likely) the fit with p =
N - 1 free effects explains on average

    E[R^2] = p / (m - 1) = 2 / (N - 2) x (N - 1) / (N + 1)   (all m = N (N - 1) / 2 pairs fitted)

whatever the values (the mean of a projection's share over the permutations of
centred data): 1 at 3 models, 0.44 at 5, 0.13 at 16, 0.03 at 69 (`r2_null`).
`ModelEffects` carries it and a permutation p-value (the share of `PERMUTATIONS`
seeded permutations of the fitted pair values whose R^2 reaches the observed).

**At least 5 models** (`MIN_MODELS_FOR_EFFECTS`). At 3 the fit is saturated
(3 pairs, 3 parameters): R^2 = 1 and every pair term is 0. At 4 the residual has
2 degrees of freedom and each pair's term equals that of the disjoint pair
(r_12 = r_34, r_13 = r_24, r_14 = r_23): no pair can be told from its
complement. From 5 on the pair terms are identified: one planted pair keeps
(N - 3) / (N - 1) of its excess (half at 5) and no other pair gets more than
2 / ((N - 1)(N - 2)) of it (a sixth at 5), and noise's expected R^2 falls below
one half (4/9). Below 5, `model_effects` and `directional_effects` raise
`TooFewModels` (an ArchsimError) "too few models for per-model effects";
`effects_too_few_models(n)` tells callers beforehand and `effects_or_reason`
gives the fit or that line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.errors import ArchsimError

MIN_MODELS_FOR_EFFECTS = 5  # the smallest pool whose pair terms are identified (module docstring)
PERMUTATIONS = 999  # permutations of the fitted pair values for R^2's p-value


class TooFewModels(ArchsimError):
    """The pool is below MIN_MODELS_FOR_EFFECTS: no per-model effects are given."""


def effects_too_few_models(n: int) -> bool:
    """Whether a pool of n models is too small for per-model effects (n < MIN_MODELS_FOR_EFFECTS)."""
    return n < MIN_MODELS_FOR_EFFECTS


def too_few_models_message(n: int, of: int | None = None) -> str:
    """What to print instead of per-model effects for a pool of n models (n of `of` with a measured pair)."""
    count = f"{n}" if of is None else f"{n} of {of} have a measured pair"
    return (f"too few models for per-model effects: {count} (at least {MIN_MODELS_FOR_EFFECTS}; below that the "
            "pair terms are not identified)")


def r2_null(n_models: int, n_pairs: int | None = None) -> float:
    """E[R^2] of the additive fit mu + a_i + a_j on exchangeable noise: (n_models - 1) / (n_pairs - 1),
    n_pairs (default every pair, n (n - 1) / 2) the fitted pairs; NaN when n_pairs < 2."""
    m = n_models * (n_models - 1) // 2 if n_pairs is None else n_pairs
    return min(1.0, (n_models - 1) / (m - 1)) if m >= 2 else float("nan")


@dataclass(frozen=True)
class ModelEffects:
    mu: float
    effects: np.ndarray  # (N,) a_i, summing to 0 (NaN for a model with no measured pair)
    adjusted: np.ndarray  # (N, N) the pair term r_ij, NaN on the diagonal and at censored pairs
    r2: float  # share of the fitted pairs' variance explained by mu + a_i + a_j
    r2_null: float  # E[R^2] of the same fit on exchangeable noise (module docstring)
    r2_p: float  # permutation p-value of r2
    n_models: int
    n_pairs: int  # pairs fitted (measured, finite)

    def r2_summary(self) -> str:
        """'R^2 = 0.75, against 0.13 expected of exchangeable noise at 16 models (permutation p = 0.001)'."""
        return (f"R^2 = {self.r2:.2f}, against {self.r2_null:.2f} expected of exchangeable noise at "
                f"{self.n_models} models (permutation p = {self.r2_p:.3g})")


@dataclass(frozen=True)
class DirectionalEffects:
    mu: float
    source: np.ndarray  # (N,) attacker strength s_i, summing to 0
    target: np.ndarray  # (N,) fragility t_j, summing to 0
    r2: float  # share of the fitted directions' variance explained by mu + s_i + t_j


def model_effects(sat, censored=None, *, permutations: int = PERMUTATIONS, seed: int = 0) -> ModelEffects:
    """The additive per-model fit of a symmetric similarity matrix over its finite pairs that are not
    `censored` ((N, N) bool, or None: none); see the module docstring."""
    sat = np.asarray(sat, dtype=float)
    n = len(sat)
    if sat.shape != (n, n):
        raise ArchsimError(f"per-model effects need a square matrix, got shape {sat.shape}")
    if effects_too_few_models(n):
        raise TooFewModels(too_few_models_message(n))
    i, j = np.triu_indices(n, 1)
    y = sat[i, j]
    ok = np.isfinite(y) & (True if censored is None else ~np.asarray(censored, dtype=bool)[i, j])
    design = np.zeros((len(y), n))
    design[np.arange(len(y)), i] = design[np.arange(len(y)), j] = 1
    fitted_models = design[ok].any(0)
    if effects_too_few_models(int(fitted_models.sum())):
        raise TooFewModels(too_few_models_message(int(fitted_models.sum()), of=n))
    coef, fitted = _fit(np.column_stack([np.ones(len(y)), design])[ok], y[ok])
    raw = np.where(fitted_models, coef[1:], np.nan)
    a = raw - np.nanmean(raw)  # sum(a) = 0 over the fitted models; the fitted values do not change
    mu = coef[0] + 2 * np.nanmean(raw)
    adjusted = np.full((n, n), np.nan)
    adjusted[i[ok], j[ok]] = adjusted[j[ok], i[ok]] = y[ok] - fitted
    r2, null, p = _r2_with_null(design[ok], y[ok], permutations, seed)
    return ModelEffects(float(mu), a, adjusted, r2, null, p, n, int(ok.sum()))


def effects_or_reason(sat, censored=None) -> tuple[ModelEffects | None, str]:
    """(`model_effects(sat, censored)`, "") or, for too small a pool, (None, the "too few models" line)."""
    try:
        return model_effects(sat, censored), ""
    except TooFewModels as e:
        return None, str(e)


def directional_effects(transfer, eps_s: float) -> DirectionalEffects:
    """Source and target terms of ln(100 transfer_ij), i != j, over the directions above the floor eps_s."""
    rate = np.asarray(transfer, dtype=float)
    n = len(rate)
    if effects_too_few_models(n):
        raise TooFewModels(too_few_models_message(n))
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(rate[i, j]) & (100 * rate[i, j] > eps_s)
    y = np.log(100 * rate[i, j][ok])
    design = np.zeros((len(y), 2 * n))
    design[np.arange(len(y)), i[ok]] = 1
    design[np.arange(len(y)), n + j[ok]] = 1
    coef, fitted = _fit(np.column_stack([np.ones(len(y)), design]), y)
    s, t = coef[1:n + 1], coef[n + 1:]
    mu = coef[0] + s.mean() + t.mean()
    return DirectionalEffects(float(mu), s - s.mean(), t - t.mean(), _r2(y, fitted))


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least squares (the effects are identified only up to a constant)."""
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    return coef, x @ coef


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - fitted) ** 2).sum() / total) if total > 0 else float("nan")


def _r2_with_null(design: np.ndarray, y: np.ndarray, permutations: int, seed: int) -> tuple[float, float, float]:
    """R^2 of y on the centred design's column space, its mean p / (m - 1) over permutations of y, and the
    permutation p-value (1 + #{R^2_perm >= R^2}) / (1 + permutations)."""
    yc = y - y.mean()
    total = float(yc @ yc)
    if total == 0 or len(y) < 2:
        return float("nan"), float("nan"), float("nan")
    u, sv, _ = np.linalg.svd(design - design.mean(0), full_matrices=False)
    q = u[:, sv > sv.max() * max(design.shape) * np.finfo(float).eps]  # an orthonormal basis, rank p
    r2 = float(((q.T @ yc) ** 2).sum() / total)
    rng = np.random.default_rng(seed)
    shuffled = yc[np.argsort(rng.random((permutations, len(yc))), axis=1)]
    r2_perm = ((shuffled @ q) ** 2).sum(1) / total
    p = (1 + int((r2_perm >= r2 - 1e-12).sum())) / (1 + permutations)
    return r2, min(1.0, q.shape[1] / (len(y) - 1)), p


def row_rank(values: np.ndarray, i: int, j: int) -> int:
    """The rank of model j in row i of a similarity matrix (1 = the most similar of the others; NaN, such as
    a censored pair's term, counts as the least similar)."""
    row = np.nan_to_num(np.asarray(values, dtype=float)[i], nan=-np.inf)
    row[i] = -np.inf
    return int((row > row[j]).sum()) + 1


def seed_pairs(specs) -> list[tuple[str, str]]:
    """Pairs of config models that differ only in their initialisation seed (and label)."""
    groups: dict[str, list[str]] = {}
    for s in specs:
        key = repr((s.name, sorted(s.kwargs.items()), s.input_size, s.mean, s.std, s.pretrained, s.checkpoint,
                    s.train))
        groups.setdefault(key, []).append(s.label)
    return [(g[0], other) for g in groups.values() for other in g[1:]]
