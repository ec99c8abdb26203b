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

`write(out)` writes what a full run writes, with the completed values in
sat.csv, a `predicted` column (1: completed) in pairs.csv, NaN in
transfer.csv for the directions not evaluated, and budget.csv (evaluations
run, pairs measured and completed, the fit chosen, the covariate's coefficient
(empty when the fit leaves it out), its cross-validated error, the interval's
half-width).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.files import all_or_nothing, write_rows
from archsim.sat.completion import Completion, complete_sat
from archsim.sat.result import SATResult


@dataclass(frozen=True)
class CompletedSAT:
    result: SATResult  # the measured pairs (result.observed marks them)
    completion: Completion

    @classmethod
    def complete(cls, result: SATResult, *, alignment: np.ndarray | None = None, seed: int = 0) -> CompletedSAT:
        """Complete `result`'s unobserved pairs, with the models' perturbation `alignment` as covariate."""
        return cls(result, complete_sat(result.sat_for_analyses, result.is_observed, covariate=alignment,
                                        seed=seed))

    @property
    def names(self) -> list[str]:
        return self.result.names

    @property
    def values(self) -> np.ndarray:
        """Measured SAT (censored cells at ln(eps_s), as a full run writes them) where observed, completed
        elsewhere."""
        return np.where(self.predicted, self.completion.values, self.result.sat)

    @property
    def predicted(self) -> np.ndarray:
        return self.completion.predicted

    @property
    def evaluations(self) -> int:
        """Evaluation units behind the result: both directions of each observed pair and the diagonal."""
        return int(self.result.is_observed.sum())

    def summary(self) -> str:
        """One line: the budget spent and how the rest was completed."""
        n, c = len(self.names), self.completion
        term = f"a pair term of rank <= {c.rank}, shrunk by {c.shrink:.3g}" if c.rank else "no pair term"
        if c.fit.covariate:
            term = f"perturbation alignment (x {c.coefficient:.3g}), " + term
        return (f"budget: {self.evaluations} of {n * n} evaluations ({self.evaluations / (n * n):.0%}); "
                f"{self.pairs_measured} of {n * (n - 1) // 2} pairs measured, {self.pairs_completed} completed by "
                f"per-model effects, {term} (cross-validated error {c.cv_rmse:.3f}; 95% interval "
                f"+-{c.half_width():.3f})")

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
        values, (low, high) = self.completion.values, self.completion.intervals()
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
                                     "shrink", "alignment_coefficient", "cv_rmse", "interval_half_width"],
                [(n, self.evaluations, n * n, self.pairs_measured, self.pairs_completed, c.rank, c.shrink,
                  c.coefficient if c.fit.covariate else "", c.cv_rmse, c.half_width())])
        return paths
