"""The fused measure: the mean of the measures' ranks.

    fused(matrices) -> (N, N): for each measure, its finite pairs i < j ranked (scipy.stats.rankdata, ties
                       averaged) and scaled to (0, 1] by the number of its finite pairs; the fused value of a
                       pair is the mean of these over the measures where the pair is finite (NaN where none is,
                       and on the diagonal)

Every matrix must be oriented (larger = more similar) and over the same models in the same order. Scaled
ranks make measures of different ranges and spreads count alike; a measure that skips some pairs still
ranks the others. It has its own scorecard row, so a user sees whether combining measures identifies
architectures better than any one of them.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

NAME = "fused (mean rank)"


def fused(matrices: dict[str, np.ndarray]) -> np.ndarray:
    """The mean scaled rank of each pair over the measures of `matrices` ({name: oriented (N, N) matrix})."""
    values = [np.asarray(m, dtype=float) for m in matrices.values()]
    n = len(values[0])
    i, j = np.triu_indices(n, 1)
    ranks = np.full((len(values), len(i)), np.nan)
    for row, m in zip(ranks, values):
        s = m[i, j]
        ok = np.isfinite(s)
        row[ok] = rankdata(s[ok]) / max(ok.sum(), 1)
    defined = np.isfinite(ranks).sum(0)
    out = np.full((n, n), np.nan)
    out[i, j] = out[j, i] = np.where(defined > 0, np.nansum(ranks, 0) / np.maximum(defined, 1), np.nan)
    return out
