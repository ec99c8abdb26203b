"""The files `archsim ensemble` and `archsim distill` (and `archsim demo`) write for their studies.

Each function writes its CSV and PNG files into `out`, all or nothing
(`archsim.files.all_or_nothing`), and returns the paths written:

- `write_ensembles`: the ensemble selections, pairs and correlations (`archsim ensemble`);
- `write_distillation`: the distilled students and their summary (`archsim distill --train`).

The recommendations themselves go to recommendation.json (`analysis.decisions.stages`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.decisions import plots
from analysis.decisions.distill_study import DistillStudy
from analysis.decisions.ensemble_study import HEADER as ENSEMBLE_HEADER
from analysis.decisions.ensemble_study import SUMMARY_HEADER, EnsembleStudy
from archsim.files import all_or_nothing, write_rows


def write_ensembles(study: EnsembleStudy, out: str | Path) -> list[Path]:
    """ensembles.csv, ensemble_summary.csv, ensemble_pairs.csv (each pair's test gain over its better member and its
    similarities on the validation images), ensemble_lambda.csv, ensemble_correlations.csv and two PNGs."""
    out = Path(out)
    names, measures = study.names, list(study.similarities)
    pairs = [[names[i], names[j], study.pair_gain[i, j]] + [study.similarities[m][i, j] for m in measures]
             for i in range(len(names)) for j in range(i + 1, len(names))]
    corr, summary = study.correlations, study.summary()
    with all_or_nothing():
        written = [write_rows(out / "ensembles.csv", ENSEMBLE_HEADER,
                              [[r[h] for h in ENSEMBLE_HEADER] for r in study.rows]),
                   write_rows(out / "ensemble_summary.csv", SUMMARY_HEADER, [r.values() for r in summary]),
                   write_rows(out / "ensemble_pairs.csv", ["a", "b", "pair_gain_over_better_member"] + measures,
                              pairs),
                   write_rows(out / "ensemble_lambda.csv", ["measure", "lambda", "members", "val_softmax_acc"],
                              study.lambdas),
                   write_rows(out / "ensemble_correlations.csv",
                              ["measure", "spearman_rho", "ci_low", "ci_high", "n_pairs", "n_models", "resamples"],
                              [[m, c.rho, c.ci_low, c.ci_high, c.n_pairs, c.n_models, c.resamples]
                               for m, c in corr.items()]),
                   plots.plot_ensemble_accuracy(summary, out / "ensemble_accuracy.png")]
        iu = np.triu_indices(len(names), 1)
        panels = {m: (study.similarities[m][iu], study.pair_gain[iu],
                      f"Spearman {corr[m].rho:+.2f} [{corr[m].ci_low:+.2f}, {corr[m].ci_high:+.2f}]") for m in measures}
        written.append(plots.plot_gain_vs_similarity(panels, "pair-ensemble gain (test)",
                                                     out / "ensemble_pair_gain.png"))
    return written


def write_distillation(study: DistillStudy, runs, out: str | Path) -> list[Path]:
    """distill_runs.csv, distill_summary.csv, distill_correlations.csv and distill_gain.png."""
    out = Path(out)
    header, rows = study.table()
    corr = study.correlations
    with all_or_nothing():
        written = [write_rows(out / "distill_runs.csv",
                              ["teacher", "seed", "validation_accuracy", "test_accuracy", "train_seconds"],
                              [[r.teacher or "", r.seed, r.validation_accuracy, r.test_accuracy, r.seconds]
                               for r in runs]),
                   write_rows(out / "distill_summary.csv", header, rows),
                   write_rows(out / "distill_correlations.csv",
                              ["measure", "spearman_rho", "p", "n_teachers", "ci_low", "ci_high"],
                              [[m, c.rho, c.p, c.n_teachers, c.ci_low, c.ci_high] for m, c in corr.items()])]
        panels = {m: (np.array([study.similarity[m].get(t, np.nan) for t in study.teachers], dtype=float),
                      np.array([study.gain[t] for t in study.teachers]),
                      f"Spearman {corr[m].rho:+.2f} ({corr[m].n_teachers} teachers)") for m in study.measures}
        written.append(plots.plot_gain_vs_similarity(panels, "distillation gain (test accuracy)",
                                                     out / "distill_gain.png", point_labels=study.teachers))
    return written
