"""The SAT formula (Hwang et al., ECCV 2024): similarity of two models by attack transferability.

For a pair (A, B), X_AB = the images both classify correctly on clean input, and
err(A -> B) = |{x in X_AB : B(x_A) != y}| (x_A: A's adversarial image of x). Then

    transfer[A, B] = err(A -> B) / |X_AB|                   (row = source, column = target)
    SAT(A, B)      = ln( max(eps_s, 100 * (err(A->B) + err(B->A)) / (2 |X_AB|)) )

natural log, symmetric by construction; the diagonal is ln(100 x white-box
success rate). |X_AB| = 0 gives ln(eps_s). eps_s must lie in (0, 100): 100 x a
rate is at most 100, so at 100 or above every pair would sit at the floor
(`check_eps_s`). A pair at the floor is censored (`archsim.sat.censoring`).
With eps_s = 0.01, one transfer in the 2 |X_AB| = 10,000 trials of a pair with
|X_AB| = 5,000 is exactly at the floor.
"""

from __future__ import annotations

import numbers

import numpy as np

from archsim.errors import ArchsimError

DEFAULT_EPS_S = 0.01  # floor inside the log, in percent: ln(0.01) = -4.6


def check_eps_s(eps_s) -> float:
    """eps_s as a float, or ArchsimError unless 0 < eps_s < 100 (a floor in percent below any possible rate)."""
    if isinstance(eps_s, bool) or not isinstance(eps_s, numbers.Real) or not 0 < eps_s < 100:
        raise ArchsimError(f"eps_s must be a number in (0, 100), a floor in percent below the largest possible "
                           f"100 x transfer rate (100); got {eps_s!r}: the default 0.01 is one transfer in 10,000")
    return float(eps_s)


def sat_score(rate, eps_s: float):
    """ln(max(eps_s, 100 * rate)) for a transfer rate (or an array of them) in [0, 1]."""
    return np.log(np.maximum(eps_s, 100.0 * np.asarray(rate, dtype=float)))


def transfer_rates(errors: np.ndarray, n_common: np.ndarray) -> np.ndarray:
    """err(A -> B) / |X_AB| (NaN where |X_AB| = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_common > 0, errors / np.maximum(n_common, 1), np.nan)


def sat_from_counts(errors: np.ndarray, n_common: np.ndarray, eps_s: float) -> np.ndarray:
    """The SAT matrix from err(A -> B) counts and |X_AB|: the pooled rate of both directions, then `sat_score`."""
    pooled = errors + errors.T
    rate = np.where(n_common > 0, pooled / (2 * np.maximum(n_common, 1)), 0.0)
    return sat_score(rate, eps_s)
