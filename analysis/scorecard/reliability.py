"""Split-half reliability: how reproducible a measure is with this many evaluation images.

    image_halves(labels, seed) -> (a, b): two disjoint halves of the image indices, stratified by class
    check_splittable(n) -> ArchsimError when n images are too few to split
    sat_halves(sat, halves) -> [SATResult of half a, of half b], from the stored per-image outcomes
    reliability(a, b) -> Estimate: Spearman rho of the two matrices' off-diagonal values

The measure is computed once on each half; reliability is Spearman's rho between the two matrices'
pairs i < j where both are finite (`scipy.stats.spearmanr`). Its interval resamples models, since pairs share
them: draw the M models with replacement, take every pair of drawn positions whose models differ, and rank
those pairs' values (`scipy.stats.rankdata`, ties averaged; the Pearson correlation of the ranks is Spearman's
rho), all resamples at once; resamples with fewer than 3 pairs or a constant side are skipped, and there is no
interval from fewer than known_answers.MIN_RESAMPLED models or when fewer than half the resamples are usable.
It is the reliability of a measurement on n/2 images; the full n is more reliable than that (by
Spearman-Brown, 2 rho / (1 + rho) for a linear correlation). SAT's halves cost nothing: every image's
outcomes are stored, so a half is the same attacks and evaluations restricted to its images.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata, spearmanr
from sklearn.model_selection import train_test_split

from analysis.scorecard.known_answers import RESAMPLES, Estimate, interval
from archsim.errors import ArchsimError
from archsim.sat.result import SATResult

MIN_HALF = 10  # images per half, at the least


def image_halves(labels, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of range(len(labels)), sorted, stratified by label when every class has 2 images
    (`sklearn.model_selection.train_test_split`, random_state=seed); ArchsimError below 2 x MIN_HALF images."""
    labels = np.asarray(labels)
    check_splittable(len(labels))
    stratify = labels if np.unique(labels, return_counts=True)[1].min() >= 2 else None
    a, b = train_test_split(np.arange(len(labels)), test_size=0.5, random_state=seed, stratify=stratify)
    return np.sort(a), np.sort(b)


def check_splittable(n: int) -> None:
    """ArchsimError unless n evaluation images make two halves of MIN_HALF images."""
    if n < 2 * MIN_HALF:
        raise ArchsimError(f"split-half reliability needs at least {2 * MIN_HALF} evaluation images "
                           f"({MIN_HALF} per half); the run has {n}")


def sat_halves(sat: SATResult, halves) -> list[SATResult]:
    """The SAT result of each half of the images: the same outcomes, restricted to the half's images."""
    return [SATResult(sat.names, sat.clean_correct[:, idx], sat.adv_correct[:, :, idx], sat.eps_s,
                      None if sat.image_ids is None else [sat.image_ids[i] for i in idx],
                      None if sat.noise_correct is None else sat.noise_correct[:, idx]) for idx in halves]


def reliability(a, b, *, seed: int = 0) -> Estimate:
    """Spearman rho of the finite off-diagonal pairs of matrices `a` and `b` (same models, same order), with the
    bootstrap interval over models (module docstring)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    i, j = np.triu_indices(len(a), 1)
    ok = np.isfinite(a[i, j]) & np.isfinite(b[i, j])
    x, y = a[i, j][ok], b[i, j][ok]
    if ok.sum() < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Estimate(np.nan, n=int(ok.sum()), note=f"{ok.sum()} finite pair(s), or constant values: no rank "
                                                      "correlation")
    rho = float(spearmanr(x, y).statistic)
    low, high, note = interval(resampled_spearman(a, b, seed=seed), len(a), unit="models")
    return Estimate(rho, low, high, int(ok.sum()), note)


def resampled_spearman(a: np.ndarray, b: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0,
                       drawn: np.ndarray | None = None) -> np.ndarray:
    """(resamples,) Spearman rho of `a` and `b` over the model resamples `drawn` ((resamples, M) model indices;
    by default drawn with replacement from numpy default_rng(seed)); NaN where a resample is unusable."""
    m = len(a)
    if drawn is None:
        drawn = np.random.default_rng(seed).integers(0, m, size=(resamples, m))
    p, q = np.triu_indices(m, 1)
    i, j = np.minimum(drawn[:, p], drawn[:, q]), np.maximum(drawn[:, p], drawn[:, q])
    use = (i != j) & np.isfinite(a[i, j]) & np.isfinite(b[i, j])
    rx = rankdata(np.where(use, a[i, j], np.nan), axis=1, nan_policy="omit")
    ry = rankdata(np.where(use, b[i, j], np.nan), axis=1, nan_policy="omit")
    n = use.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rx, ry = rx - np.nansum(rx, 1, keepdims=True) / n, ry - np.nansum(ry, 1, keepdims=True) / n
        rho = np.nansum(rx * ry, 1) / np.sqrt(np.nansum(rx ** 2, 1) * np.nansum(ry ** 2, 1))
    return np.where((n[:, 0] >= 3) & np.isfinite(rho), rho, np.nan)
