"""The result of a budgeted SAT run: the evaluated pairs measured, the others completed (`CompletedSAT`).

A budgeted run (`archsim sat --pairs`) evaluates only some pairs
(`archsim.sat.pair_choice`); `SATResult.observed` marks them. The completion
(`archsim.sat.completion`, with the perturbation alignment of
`archsim.sat.alignment` as its covariate when given) is fitted to the observed
pairs' `sat_for_analyses` values (a censored pair enters as the least similar
measured one, as everywhere) and predicts the rest, each with the completion's
interval:

    values      = measured SAT where observed, the completion elsewhere (diagonal: white-box, measured)
    predicted   = (N, N) bool: the completed pairs
    low, high   = the 95% interval: the bootstrap over images where measured, the completion's elsewhere

With a pilot (`archsim.sat.pilot`: every pair on a share of the images), a
completed pair's value is the precision-weighted mean of the completion's
prediction and the pair's pilot SAT, with that mean's interval
(`archsim.sat.pilot.combine`).

`write(out)` writes what a full run writes, with the completed values in
sat.csv, a `predicted` column (1: completed) in pairs.csv, NaN in
transfer.csv for the directions not evaluated, and budget.csv (evaluations
run, pairs measured and completed, the fit chosen, the covariate's coefficient
(empty when the fit leaves it out), its cross-validated error, the interval's
half-width; with a pilot, its images and its cost in evaluations, and the
interval's half-width is the widest over the completed pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.files import all_or_nothing, write_rows
from archsim.sat.completion import Completion, complete_sat
from archsim.sat.pilot import Pilot, combine
from archsim.sat.result import SATResult


@dataclass(frozen=True)
class CompletedSAT:
    result: SATResult  # the measured pairs (result.observed marks them)
    completion: Completion
    pilot: Pilot | None = None

    @classmethod
    def complete(cls, result: SATResult, *, alignment: np.ndarray | None = None, pilot: Pilot | None = None,
                 seed: int = 0) -> CompletedSAT:
        """Complete `result`'s unobserved pairs, with the models' perturbation `alignment` as covariate, combined
        with the `pilot`'s values when there is one."""
        return cls(result, complete_sat(result.sat_for_analyses, result.is_observed, covariate=alignment,
                                        seed=seed), pilot)

    def _estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, half-width) of the completed pairs: the completion's, or combined with the pilot's."""
        c = self.completion
        if self.pilot is None:
            return c.values, np.where(c.predicted, c.half_width(), np.nan)
        return combine(c, self.pilot.sat, self.pilot.variance)

    @property
    def names(self) -> list[str]:
        return self.result.names

    @property
    def values(self) -> np.ndarray:
        """Measured SAT (censored cells at ln(eps_s), as a full run writes them) where observed, completed
        elsewhere."""
        return np.where(self.predicted, self._estimate()[0], self.result.sat)

    @property
    def predicted(self) -> np.ndarray:
        return self.completion.predicted

    @property
    def evaluations(self) -> float:
        """Evaluations behind the result: both directions of each observed pair, the diagonal and the pilot's
        cost (`archsim.sat.pilot.pilot_evaluations`)."""
        return int(self.result.is_observed.sum()) + (self.pilot.evaluations if self.pilot else 0.0)

    def half_width(self) -> float:
        """The completed pairs' 95% half-width: the completion's (one for all), or the widest with a pilot."""
        widths = self._estimate()[1]
        return float(np.nanmax(widths)) if np.isfinite(widths).any() else self.completion.half_width()

    def summary(self) -> str:
        """One line: the budget spent and how the rest was completed."""
        n, c = len(self.names), self.completion
        term = f"a pair term of rank <= {c.rank}, shrunk by {c.shrink:.3g}" if c.rank else "no pair term"
        if c.fit.covariate:
            term = f"perturbation alignment (x {c.coefficient:.3g}), " + term
        pilot, interval = "", f"95% interval +-{c.half_width():.3f}"
        if self.pilot:
            pilot = (f", combined with a pilot of every pair on {self.pilot.images} images "
                     f"({self.pilot.evaluations:.4g} evaluations)")
            interval = f"95% intervals up to +-{self.half_width():.3f}"
        return (f"budget: {self.evaluations:.4g} of {n * n} evaluations ({self.evaluations / (n * n):.0%}); "
                f"{self.pairs_measured} of {n * (n - 1) // 2} pairs measured, {self.pairs_completed} completed by "
                f"per-model effects, {term}{pilot} (cross-validated error {c.cv_rmse:.3f}; {interval})")

    @property
    def pairs_measured(self) -> int:
        return int(np.triu(self.result.is_observed, 1).sum())

    @property
    def pairs_completed(self) -> int:
        return int(np.triu(self.predicted, 1).sum())

    def pairs(self) -> list[dict]:
        """pairs.csv's rows (`SATResult.pairs`: the measured ones with their bootstrap interval), the completed
        ones with their predicted value and the completion's interval."""
        rows = self.result.pairs()
        values, width = self._estimate()
        low, high = values - width, values + width
        index = {name: i for i, name in enumerate(self.names)}
        for row in rows:
            a, b = index[row["a"]], index[row["b"]]
            predicted = bool(self.predicted[a, b])
            if predicted:
                row.update(sat=values[a, b], ci_low=low[a, b], ci_high=high[a, b])
            row["predicted"] = int(predicted)
        return rows

    def write(self, out_dir) -> dict[str, Path]:
        """sat.csv (completed), transfer.csv, pairs.csv (with `predicted`), clean_accuracy.csv and budget.csv."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with all_or_nothing():
            paths = self.result._write(out, sat=self.values, pairs=self.pairs())
            c, n = self.completion, len(self.names)
            paths["budget"] = write_rows(
                out / "budget.csv", ["models", "evaluations", "of", "pairs_measured", "pairs_completed", "rank_cap",
                                     "shrink", "alignment_coefficient", "cv_rmse", "interval_half_width",
                                     "pilot_images", "pilot_evaluations"],
                [(n, self.evaluations, n * n, self.pairs_measured, self.pairs_completed, c.rank, c.shrink,
                  c.coefficient if c.fit.covariate else "", c.cv_rmse, self.half_width(),
                  self.pilot.images if self.pilot else "", self.pilot.evaluations if self.pilot else "")])
        return paths
