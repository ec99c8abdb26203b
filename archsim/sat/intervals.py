"""Confidence intervals for SAT's transfer proportions.

`wilson_interval(successes, trials)` is the 95% Wilson score interval of a
binomial proportion (scipy's `binomtest(...).proportion_ci(method="wilson")`).
SAT's pair interval treats the pooled proportion (err(A->B) + err(B->A)) / (2 |X_AB|)
as binomial with 2|X_AB| trials, an approximation: the two directions share images.
"""

from __future__ import annotations

import math

from scipy.stats import binomtest


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (nan, nan) when trials is 0."""
    if trials == 0:
        return math.nan, math.nan
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)
