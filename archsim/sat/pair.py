"""One pair of a SAT run, read on its own: `archsim pair A B` and `Comparison.pair(a, b)`.

    nearest_models(result, "a") -> the model's row as table rows, most similar first: SAT, its interval, |X_AB|,
                                   both directions in percent
    summary = pair_summary(result, "a", "b")
    summary.lines() -> the answer first (SAT with its 95% interval and |X_AB|), both directional rates in
                       percent, each model's clean accuracy, white-box success and noise error, then one line
                       on how to read the value

The reading line says what the rates mean (SAT is ln(100 x their mean) on the
images both models classify correctly, from ln(eps_s), no transfer, to ln(100),
every attack transfers), and, when the run has other models, where the pair
ranks among each model's other pairs (1 = most similar); with two models there
is nothing to rank against, and it says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.errors import ArchsimError
from archsim.sat.result import SATResult


@dataclass
class PairSummary:
    a: str
    b: str
    sat: float
    low: float  # the 95% bootstrap interval over the images of X_AB (NaN when |X_AB| = 0)
    high: float
    n_common: int  # |X_AB|
    rate_ab: float  # share of a's adversarial images that fool b (on X_AB)
    rate_ba: float
    censored: bool
    eps_s: float
    models: dict  # {label: (clean accuracy, white-box success, noise error or None)}
    ranks: dict  # {label: (rank of the pair among the label's pairs, number of its pairs)}; empty with two models

    def lines(self) -> list[str]:
        a, b = self.a, self.b
        interval = "no interval" if math.isnan(self.low) else f"[{self.low:.2f}, {self.high:.2f}]"
        floor = "  (at the floor ln(eps_s): no measurement)" if self.censored else ""
        out = [f"SAT({a}, {b}) = {self.sat:.2f} {interval}, 95% bootstrap over |X_AB| = {self.n_common} images "
               f"both classify correctly{floor}",
               f"{a} -> {b}: {_percent(self.rate_ab)} of {a}'s adversarial images fool {b}",
               f"{b} -> {a}: {_percent(self.rate_ba)} of {b}'s adversarial images fool {a}",
               "",
               f"{'model':<{self._width()}}  clean acc  white-box  noise error"]
        for label, (clean, white_box, noise) in self.models.items():
            out.append(f"{label:<{self._width()}}  {_percent(clean):>9}  {_percent(white_box):>9}  "
                       f"{'-' if noise is None else _percent(noise):>11}")
        return out + ["", self.reading()]

    def reading(self) -> str:
        """How to read the value: the rates' meaning, the scale, and the pair's rank among each model's pairs."""
        scale = (f"SAT is ln(100 x the mean of the two rates) on the images both models classify correctly: from "
                 f"ln(eps_s) = {math.log(self.eps_s):.2f} (no attack transfers) to ln(100) = {math.log(100):.2f} "
                 "(every attack transfers)")
        if not self.ranks:
            return f"how to read it: {scale}; with two models there are no other pairs to set it against"
        ranks = ", ".join(f"{rank} of {n} among {label}'s pairs" for label, (rank, n) in self.ranks.items())
        return f"how to read it: {scale}; this pair ranks {ranks} (1 = most similar)"

    def _width(self) -> int:
        return max(5, *(len(m) for m in self.models))


def pair_summary(result: SATResult, a: str, b: str) -> PairSummary:
    """The pair (a, b) of `result`; ArchsimError when either label is not in it or they are the same."""
    for label in (a, b):
        if label not in result.names:
            raise ArchsimError(f"no model labelled {label!r} in the run; labels: {', '.join(result.names)}")
    if a == b:
        raise ArchsimError(f"a pair needs two models; both are {a!r}")
    i, j = result.names.index(a), result.names.index(b)
    low, high = result.sat_intervals()
    transfer, noise = result.transfer, result.noise_error
    models = {n: (float(result.clean_accuracy[k]), float(transfer[k, k]), None if noise is None else float(noise[k]))
              for n, k in ((a, i), (b, j))}
    ranks = {}
    if len(result.names) > 2:
        measured = result.sat_measured
        for label, k, other in ((a, i, j), (b, j, i)):
            row = np.delete(measured[k], k)
            value = measured[k, other]
            if not math.isnan(value):
                ranks[label] = (1 + int((row > value).sum()), int((~np.isnan(row)).sum()))
    return PairSummary(a, b, float(result.sat[i, j]), float(low[i, j]), float(high[i, j]), int(result.n_common[i, j]),
                       float(transfer[i, j]), float(transfer[j, i]), bool(result.censored[i, j]), result.eps_s, models,
                       ranks)


def nearest_models(result: SATResult, label: str) -> list[list[str]]:
    """`label`'s row of `result`, most similar first (pairs at the floor last): one table row per other model."""
    i = result.names.index(label)
    low, high = result.sat_intervals()
    sat, transfer, censored = result.sat, result.transfer, result.censored
    order = sorted((j for j in range(len(result.names)) if j != i), key=lambda j: (censored[i, j], -sat[i, j]))
    return [[result.names[j], f"{sat[i, j]:.2f}" + (" (floor)" if censored[i, j] else ""),
             "-" if math.isnan(low[i, j]) else f"[{low[i, j]:.2f}, {high[i, j]:.2f}]", str(int(result.n_common[i, j])),
             _percent(transfer[i, j]), _percent(transfer[j, i])] for j in order]


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"
