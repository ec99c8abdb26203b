"""Paired intervals for a decision: the chosen option against a named baseline, on the same test images or seeds.

    paired_difference(correct_a, correct_b) -> Difference
        accuracy(a) - accuracy(b) on the same n test images, with a percentile bootstrap over the
        images: each resampled image keeps both outcomes (the pairing), so what the two sides share
        (easy and hard images) cancels. The draws are `bootstrap_weights(n, resamples, seed)`:
        multinomial counts of n draws with replacement (numpy default_rng(seed)), one row per
        resample, so many differences can be resampled with the same draws at the cost of a product.
    seed_difference(acc_a, acc_b) -> Difference
        mean over seeds s of acc_a[s] - acc_b[s] (seed s: the same initialisation and data order on
        both sides), with the Student-t interval mean +- t_{(1 + level) / 2, n - 1} x sd / sqrt(n);
        no interval (NaN) with fewer than 2 seeds.

Differences are in accuracy units (0.01 = one point); `Difference.points()` prints them in points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    """estimate with its interval [low, high] (NaN when there is none); `n` images or seeds behind it."""

    estimate: float
    low: float
    high: float
    n: int
    over: str  # "test images" or "seeds"

    @property
    def above_zero(self) -> bool:
        return self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.high < 0

    def points(self) -> str:
        """'+0.7 points [-0.3, +1.6]' (interval over the images or seeds), or without an interval."""
        text = f"{100 * self.estimate:+.1f} points"
        if math.isfinite(self.low) and math.isfinite(self.high):
            text += f" [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        return text

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": _or_none(self.low), "high": _or_none(self.high),
                "level": LEVEL, "over": f"{self.n} {self.over}"}


def bootstrap_weights(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, n) float: how often each of n items is drawn in each resample of n draws with replacement."""
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    return weights


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The (1 - level) / 2 and (1 + level) / 2 percentiles of `values` along the last axis."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail], axis=-1)
    return low, high


def paired_difference(correct_a, correct_b, *, resamples: int = RESAMPLES, seed: int = 0,
                      level: float = LEVEL, weights: np.ndarray | None = None) -> Difference:
    """accuracy(a) - accuracy(b) over the same images (bool or 0/1 arrays of one length), bootstrap interval."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired outcomes must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    d = a - b
    w = bootstrap_weights(len(d), resamples, seed) if weights is None else weights
    low, high = percentile_interval(w @ d / len(d), level)
    return Difference(float(d.mean()), float(low), float(high), len(d), "test images")


def seed_difference(acc_a, acc_b, *, level: float = LEVEL) -> Difference:
    """mean_s (acc_a[s] - acc_b[s]) with its Student-t interval over the seeds (NaN below 2 seeds)."""
    d = np.asarray(acc_a, dtype=float) - np.asarray(acc_b, dtype=float)
    if len(d) < 2:
        return Difference(float(d.mean()) if len(d) else math.nan, math.nan, math.nan, len(d), "seeds")
    half = stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return Difference(float(d.mean()), float(d.mean() - half), float(d.mean() + half), len(d), "seeds")


def _or_none(x: float):
    return x if math.isfinite(x) else None
