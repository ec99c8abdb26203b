"""Per-model effects in SAT, and the pair term that is left for similarity.

A model that any perturbation fools gets a high SAT with everybody: its row
measures fragility, not similarity. Over the off-diagonal pairs i < j fit, by
least squares,

    SAT_ij = mu + a_i + a_j + r_ij          (a_i: model i's per-model effect, sum_i a_i = 0)

`r2` is the share of the off-diagonal SAT variance that mu + a_i + a_j explains,
and the pair term r_ij (the residual) is `sat-adjusted`, registered as a measure:
symmetric, larger = more similar than the two models' per-model effects predict,
undefined (NaN) on the diagonal. With the directional transfer rates the same fit
splits the per-model effect into a source (attacker strength) and a target
(fragility) term:

    ln(max(eps_s, 100 transfer_ij)) = mu + s_i + t_j + p_ij + e_ij,  p symmetric (i != j)

`directional_effects` gives s, t and the share of the directional variance they
explain. Models with NaN pairs are fitted on the pairs they have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.errors import ArchsimError


@dataclass(frozen=True)
class ModelEffects:
    mu: float
    effects: np.ndarray  # (N,) a_i, summing to 0
    adjusted: np.ndarray  # (N, N) the pair term r_ij, NaN on the diagonal
    r2: float  # share of the off-diagonal variance explained by mu + a_i + a_j


@dataclass(frozen=True)
class DirectionalEffects:
    mu: float
    source: np.ndarray  # (N,) attacker strength s_i, summing to 0
    target: np.ndarray  # (N,) fragility t_j, summing to 0
    r2: float  # share of the directional off-diagonal variance explained by mu + s_i + t_j


def model_effects(sat) -> ModelEffects:
    """The additive per-model fit of a symmetric similarity matrix (module docstring)."""
    sat = np.asarray(sat, dtype=float)
    n = len(sat)
    if sat.shape != (n, n) or n < 3:
        raise ArchsimError(f"per-model effects need a square matrix of at least 3 models, got {sat.shape}")
    i, j = np.triu_indices(n, 1)
    y, ok = sat[i, j], np.isfinite(sat[i, j])
    design = np.zeros((len(y), n))
    design[np.arange(len(y)), i] = design[np.arange(len(y)), j] = 1
    coef, fitted = _fit(np.column_stack([np.ones(len(y)), design])[ok], y[ok])
    mu, a = coef[0] + 2 * coef[1:].mean(), coef[1:] - coef[1:].mean()  # sum(a) = 0, same fitted values
    adjusted = np.full((n, n), np.nan)
    adjusted[i, j] = adjusted[j, i] = y - (mu + a[i] + a[j])
    return ModelEffects(float(mu), a, adjusted, _r2(y[ok], fitted))


def directional_effects(transfer, eps_s: float) -> DirectionalEffects:
    """Source and target terms of ln(max(eps_s, 100 transfer_ij)), i != j, with a symmetric pair term."""
    rate = np.asarray(transfer, dtype=float)
    n = len(rate)
    log = np.log(np.maximum(eps_s, 100 * rate))
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    y, ok = log[i, j], np.isfinite(rate[i, j])
    design = np.zeros((len(y), 2 * n))
    design[np.arange(len(y)), i] = 1
    design[np.arange(len(y)), n + j] = 1
    coef, fitted = _fit(np.column_stack([np.ones(len(y)), design])[ok], y[ok])
    s, t = coef[1:n + 1], coef[n + 1:]
    mu = coef[0] + s.mean() + t.mean()
    return DirectionalEffects(float(mu), s - s.mean(), t - t.mean(), _r2(y[ok], fitted))


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least squares (the effects are identified only up to a constant)."""
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    return coef, x @ coef


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - fitted) ** 2).sum() / total) if total > 0 else float("nan")


def row_rank(values: np.ndarray, i: int, j: int) -> int:
    """The rank of model j in row i of a similarity matrix (1 = the most similar of the others)."""
    row = np.asarray(values, dtype=float)[i].copy()
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
