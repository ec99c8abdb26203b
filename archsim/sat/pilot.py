"""The pilot of a budgeted SAT run: every pair on a few images, combined with the completion.

    pilot_images(n_images, count)            -> the dataset positions of a pilot of `count` images
    pilot_count(n_images, share)             -> ceil(share n_images)
    pilot_evaluations(n_models, share)       -> what a pilot costs, in evaluations: N (N - 1) share
    pilot_variance(pilot, share)             -> (N, N) variance of each pair's pilot SAT about its full value
    combine(completion, pilot_sat, variance) -> (values, half_width): the estimate and 95% interval per pair
    Pilot(result, share)                     -> a pilot's SATResult on its images, with .sat and .variance

A pilot of share f evaluates every ordered pair of distinct models on the
first ceil(f n) images of a fixed seeded order of the dataset's n images (the
same for every run on that dataset, so pilots are reused), at f of an
evaluation's cost each. It gives every pair a noisy SAT, S_p = ln(max(eps_s,
100 p_p)), with p_p the pair's pooled transfer rate on the m = 2 |X_AB| pilot
outcomes (both directions). On the log scale, by the delta method,

    var(S_p) = (1 - p) / (p m),   p = max(p_p, 1 / m)   (m = 0: infinite)

and since the full run's images include the pilot's, the pilot's error about
the full value S has variance var(S_p) (1 - f) (sampling without
replacement). The completion (`archsim.sat.completion`, fitted to the pairs
measured on all images) predicts S with the mean squared held-out error v_c of
its cross-validation. The two are independent estimates (the completion never
sees the pilot), so an unmeasured pair gets their precision-weighted mean

    S_hat = (C / v_c + S_p / v_p) / (1 / v_c + 1 / v_p),   v = 1 / (1 / v_c + 1 / v_p)

with the 95% interval S_hat +- 1.96 sqrt(v) (normal; its coverage is measured
in benchmarks/pair_budget.py). A pair the pilot barely measured (few
transfers) leans on the completion; one it measured well leans on the pilot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.errors import ArchsimError
from archsim.sat.completion import Completion
from archsim.sat.result import SATResult

Z95 = 1.959964
SEED = 29  # the pilot order's seed, fixed: pilots of one dataset nest and are shared across runs
PILOT_NOT_WITH_ADD = ("--pilot evaluates every pair of a budgeted run on a few images; it does not combine with "
                      "--add (give --pairs alone)")


def pilot_images(n_images: int, count: int) -> np.ndarray:
    """The first `count` positions of the dataset's pilot order (a seeded permutation of its n_images)."""
    return np.random.default_rng([SEED, n_images]).permutation(n_images)[:count]


def pilot_count(n_images: int, share: float) -> int:
    """Images in a pilot of `share` of n_images: ceil(share n), at least 1."""
    return max(1, math.ceil(share * n_images - 1e-9))


def check_share(share) -> float:
    """`share` as a float; ArchsimError (one line) unless it lies in (0, 1)."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ArchsimError(f"--pilot must be a share of the images in (0, 1), e.g. 0.15; got {share!r}")
    return float(share)


def pilot_evaluations(n_models: int, share: float) -> float:
    """A pilot's cost in evaluations (each of all the images): N (N - 1) ordered pairs at `share` each."""
    return n_models * (n_models - 1) * share


def pilot_variance(pilot, share: float) -> np.ndarray:
    """(N, N) var(S_p) (1 - f) of each pair of the pilot's SATResult `pilot` (module docstring); inf for a pair
    with no pilot image in X_AB; f is `share`, the pilot's share of the images."""
    m = (pilot.n_common + pilot.n_common.T).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.maximum((pilot.errors + pilot.errors.T) / m, 1 / m)
        v = (1 - p) / (p * m) * (1 - share)
    return np.where(m > 0, v, np.inf)


def combine(completion: Completion, pilot_sat: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, half_width): at the completion's predicted pairs, the precision-weighted mean of its prediction
    and the pilot's `pilot_sat` with their 95% half-width (module docstring); elsewhere the completion's values
    and NaN."""
    finite = np.isfinite(variance)
    pilot_precision = np.where(finite, 1 / np.maximum(np.where(finite, variance, 1.0), 1e-12), 0.0)
    precision = 1 / max(completion.cv_rmse ** 2, 1e-12) + pilot_precision
    weight = pilot_precision / precision
    mixed = (1 - weight) * completion.values + weight * np.where(finite, pilot_sat, 0.0)
    values = np.where(completion.predicted, mixed, completion.values)
    return values, np.where(completion.predicted, Z95 / np.sqrt(precision), np.nan)


@dataclass(frozen=True)
class Pilot:
    """A pilot: every pair's outcomes on the pilot images (`RunStore.pilot_result`)."""

    result: SATResult  # on the pilot's images only
    share: float  # its images over the run's

    @property
    def images(self) -> int:
        return int(self.result.clean_correct.shape[1])

    @property
    def sat(self) -> np.ndarray:
        """Each pair's SAT on the pilot images (censored pairs at the least similar measured value)."""
        return self.result.sat_for_analyses

    @property
    def variance(self) -> np.ndarray:
        return pilot_variance(self.result, self.share)

    @property
    def evaluations(self) -> float:
        return pilot_evaluations(len(self.result.names), self.share)
