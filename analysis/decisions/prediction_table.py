"""Which measure predicts what: every measure's rank correlation with ensemble gain and with distillation gain.

    prediction_rows(ensemble, distill) -> [PredictionRow], in order of the ensemble rho
    write_predictions(rows, out) -> [predictions.csv, predictions.png]

From the two studies already run: the ensemble study's pair analysis (Spearman rho
of pair similarity with the two-model ensemble's test gain over its better member,
bootstrap interval over models, `analysis.decisions.ensemble_eval.similarity_gain_correlation`)
and the distillation study (Spearman rho of a teacher's similarity to the student
with its students' test gain over the labels-only baseline, permutation p and
bootstrap interval over teachers from 6 teachers on, `analysis.decisions.distill_study`). Either study may be
absent (None). Expected signs: more similar pairs gain less from ensembling
(rho < 0), and a teacher more similar to the student may help more (rho > 0).

Rows are ordered by the ensemble rho, most negative first (NaN last), then by the
distillation rho, largest first. The order is for reading, not a ranking: each
interval is of one measure alone, not a paired comparison with another, so the
table has no rank column. `kind` names the reader's baselines: "SAT" for sat
and sat-adjusted, "functional" for the measures on the models' outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from analysis.decisions import plots
from analysis.decisions.distill_study import DistillStudy
from analysis.decisions.ensemble_study import EnsembleStudy
from archsim.files import all_or_nothing, write_rows
from archsim.similarity.functional_measures import MEASURES as FUNCTIONAL
from archsim.similarity.weight_measures import MEASURES as WEIGHTS

HEADER = ["measure", "kind", "ensemble_rho", "ensemble_ci_low", "ensemble_ci_high", "pairs",
          "distill_rho", "distill_ci_low", "distill_ci_high", "distill_p", "teachers"]
NAN = math.nan


def kind_of(measure: str) -> str:
    """SAT, functional, weights or representation."""
    if measure in ("sat", "sat-adjusted"):
        return "SAT"
    if measure in {m.name for m in FUNCTIONAL}:
        return "functional"
    return "weights" if measure in {m.name for m in WEIGHTS} else "representation"


@dataclass(frozen=True)
class PredictionRow:
    measure: str
    kind: str
    ensemble: tuple[float, float, float, int]  # rho, ci_low, ci_high, pairs (NaNs and 0 without the study)
    distill: tuple[float, float, float, float, int]  # rho, ci_low, ci_high, p, teachers

    def values(self) -> list:
        """The row in the columns of HEADER."""
        return [self.measure, self.kind, *self.ensemble, *self.distill]


def prediction_rows(ensemble: EnsembleStudy | None, distill: DistillStudy | None) -> list[PredictionRow]:
    """One row per measure of either study, in the module docstring's order."""
    e_corr = ensemble.correlations if ensemble is not None else {}
    d_corr = distill.correlations if distill is not None else {}
    rows = []
    for m in dict.fromkeys([*e_corr, *d_corr]):
        e, d = e_corr.get(m), d_corr.get(m)
        rows.append(PredictionRow(m, kind_of(m),
                                  (e.rho, e.ci_low, e.ci_high, e.n_pairs) if e else (NAN, NAN, NAN, 0),
                                  (d.rho, d.ci_low, d.ci_high, d.p, d.n_teachers) if d else (NAN, NAN, NAN, NAN, 0)))

    def key(r: PredictionRow):
        e, d = r.ensemble[0], r.distill[0]
        return (math.isnan(e), e if not math.isnan(e) else 0.0, math.isnan(d), -d if not math.isnan(d) else 0.0)
    return sorted(rows, key=key)


def write_predictions(rows: list[PredictionRow], out) -> list[Path]:
    """predictions.csv (HEADER) and predictions.png (each measure's rho and interval for both targets)."""
    out = Path(out)
    targets = {"pair ensemble gain (expected: rho < 0)": [r.ensemble[:3] for r in rows],
               "distillation gain (expected: rho > 0)": [r.distill[:3] for r in rows]}
    with all_or_nothing():
        return [write_rows(out / "predictions.csv", HEADER, [r.values() for r in rows]),
                plots.plot_prediction_intervals([f"{r.measure} ({r.kind})" for r in rows], targets,
                                                out / "predictions.png")]
