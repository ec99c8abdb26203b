"""Pairs at SAT's floor are censored, not values.

SAT = ln(max(eps_s, 100 p)) (`archsim.sat.formula`). A pair whose pooled rate
has 100 p <= eps_s, or that has no common image (|X_AB| = 0), gets ln(eps_s):
a number set by the arbitrary eps_s, not measured. Such a pair is **censored**
(its SAT is at most ln(eps_s), or unknown), and archsim never uses it as a value:

- the per-model fits (`archsim.sat.effects`) leave it out;
- the mean SAT to the others is taken over the measured pairs;
- wherever a complete matrix is needed (clustering, the comparisons with the
  other measures, ensemble selection, teacher ranking, the prediction table:
  the `sat` and `sat-adjusted` measures), it enters as the least similar
  measured pair's value (`as_least_measured`): a pair with no measured
  transfer is taken to be at most as similar as the least similar measured one.

So nothing but the censored pair's own cell of `sat.csv` depends on eps_s.
"""

from __future__ import annotations

import numpy as np


def censored_pairs(errors: np.ndarray, n_common: np.ndarray, eps_s: float) -> np.ndarray:
    """(N, N) bool, False on the diagonal: |X_AB| = 0, or 100 x the pooled rate of both directions <= eps_s."""
    errors, n_common = np.asarray(errors), np.asarray(n_common)
    pooled = 100.0 * (errors + errors.T) / (2 * np.maximum(n_common, 1))
    censored = (n_common == 0) | (pooled <= eps_s)
    np.fill_diagonal(censored, False)
    return censored


def as_least_measured(values, censored: np.ndarray) -> np.ndarray:
    """`values` with each censored off-diagonal cell set to the smallest finite value of the measured
    (uncensored, off-diagonal) cells; NaN there when no pair is measured."""
    values = np.array(values, dtype=float)
    measured = values[~censored & ~np.eye(len(values), dtype=bool)]
    measured = measured[np.isfinite(measured)]
    values[censored] = measured.min() if measured.size else np.nan
    return values


def censored_labels(names: list[str], censored: np.ndarray) -> list[str]:
    """'a / b' for each censored pair a < b, in matrix order."""
    i, j = np.nonzero(np.triu(censored, 1))
    return [f"{names[a]} / {names[b]}" for a, b in zip(i, j)]


def censored_note(names: list[str], censored: np.ndarray) -> str:
    """One sentence naming the censored pairs; "" when there are none."""
    labels = censored_labels(names, censored)
    if not labels:
        return ""
    shown = ", ".join(labels[:10]) + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")
    return (f"{len(labels)} pair(s) at the floor ln(eps_s) are censored (no common image, or transfer at or below "
            f"eps_s): {shown}; left out of the per-model fit and the means, and entered in clustering and "
            "selection as the least similar measured pair")
