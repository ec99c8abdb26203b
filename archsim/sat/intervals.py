"""Confidence intervals for SAT's pooled transfer rate: a seeded bootstrap over the images of X_AB.

The 2|X_AB| outcomes of a pair share their images (image x gives A(x_B) and
B(x_A)), so they are not 2|X_AB| independent trials. Each image i of X_AB
carries e_i = 1(A(x_B,i) != y_i) + 1(B(x_A,i) != y_i) in {0, 1, 2}; the pooled
rate is mean(e) / 2, and the bootstrap resamples images, each with both of its
directions. Resampling n images with replacement draws the counts of e = 0, 1, 2
from a multinomial(n, (n_0, n_1, n_2) / n), so every pair's `resamples` replicate
rates come from one vectorised multinomial draw:

    pair_intervals(counts, confidence, resamples, seed) -> (low, high) rates per pair   (percentile bootstrap)

On the diagonal (A = B) e_i is 0 or 2, so the interval is the plain one-sample
bootstrap of the white-box success rate over |X_AA| images (counting each image
twice, as the pooled binomial did, made it sqrt(2) too narrow).
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 2000


def pair_intervals(counts: np.ndarray, *, confidence: float = 0.95, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap interval of mean(e) / 2 per pair; `counts` is (P, 3): images with e = 0, 1, 2.

    Pairs with no image get NaN. Seeded: the same counts and seed give the same intervals.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.sum(axis=1)
    low, high = np.full(len(counts), np.nan), np.full(len(counts), np.nan)
    ok = n > 0
    if ok.any():
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(n[ok], counts[ok] / n[ok, None], size=(resamples, int(ok.sum())))  # (B, P, 3)
        rates = (draws[..., 1] + 2 * draws[..., 2]) / (2 * n[ok])
        tail = (1 - confidence) / 2
        low[ok], high[ok] = np.quantile(rates, [tail, 1 - tail], axis=0)
    return low, high
