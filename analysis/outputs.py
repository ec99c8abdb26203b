"""The files `archsim analyze` (and `archsim demo`) write for one similarity matrix.

Each function runs one analysis, writes its CSV and PNG files into `out`, all
or nothing (`archsim.files.all_or_nothing`), and returns the result with the
paths written:

- `write_clustering`: clusters.csv, dendrogram.png, tsne.png, mds.png, spectrum.png;
- `write_importance`: importance.csv, importance_fit.csv, importance.png;
- `write_comparisons`: comparison.csv and one scatter_<name>.png per compared matrix;
- `write_ensembles`: the ensemble selections, pairs and correlations (`archsim ensemble`);
- `write_distillation`: the distilled students and their summary (`archsim distill --train`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis import plots
from analysis.clustering import ClusterResult, cluster_models
from analysis.compare import Comparison, compare_matrices
from analysis.distill_study import DistillStudy
from analysis.ensemble_study import HEADER as ENSEMBLE_HEADER
from analysis.ensemble_study import SUMMARY_HEADER, EnsembleStudy
from analysis.importance import Importance, component_importance
from analysis.matrix_input import SimilarityMatrix
from archsim.files import all_or_nothing, write_rows


def write_clustering(m: SimilarityMatrix, out: str | Path, *, k: int | None = None, k_method: str = "eigengap",
                     k_max: int = 10, affinity_kind: str = "exp",
                     seed: int = 0) -> tuple[ClusterResult, list[Path]]:
    """Cluster the models of `m`; write the table and figures."""
    out = Path(out)
    cl = cluster_models(m, k=k, k_method=k_method, k_max=k_max, affinity_kind=affinity_kind, seed=seed)
    with all_or_nothing():
        written = [write_rows(out / "clusters.csv", ["model", "cluster", "hierarchical_cluster"],
                              zip(cl.names, cl.labels, cl.hierarchical_labels)),
                   plots.plot_dendrogram(cl.linkage, cl.names, cl.labels, out / "dendrogram.png"),
                   plots.plot_map(cl.tsne, cl.names, cl.labels, f"t-SNE (k = {cl.k}, {cl.k_method})", out / "tsne.png"),
                   plots.plot_map(cl.mds, cl.names, cl.labels, f"MDS (k = {cl.k}, {cl.k_method})", out / "mds.png"),
                   plots.plot_spectrum(cl.spectrum, cl.k, out / "spectrum.png")]
    return cl, written


def write_importance(m: SimilarityMatrix, names: list[str], table: dict, columns: list[str], out: str | Path, *,
                     folds: int = 5, seed: int = 0) -> tuple[Importance, list[Path]]:
    """Component importance for the models `names` of `m`; write the tables and the bar chart."""
    out = Path(out)
    imp = component_importance(m.subset(names), table, columns, folds=folds, seed=seed)
    with all_or_nothing():
        written = [write_rows(out / "importance.csv", ["component", "importance", "method"], imp.rows()),
                   write_rows(out / "importance_fit.csv", ["method", "r2", "cv_r2", "cv_r2_std", "n_models", "n_pairs"],
                              [(meth, f["r2"], f["cv_r2"], f["cv_r2_std"], imp.n_models, imp.n_pairs)
                               for meth, f in imp.fit.items()]),
                   plots.plot_importance(imp, out / "importance.png")]
    return imp, written


def write_comparisons(m: SimilarityMatrix, others: list[SimilarityMatrix], stems: list[str], out: str | Path, *,
                      permutations: int = 999, seed: int = 0) -> tuple[list[Comparison], list[Path]]:
    """Compare `m` with each of `others`; comparison.csv and scatter_<stem>.png per other matrix."""
    out = Path(out)
    comps = [compare_matrices(m, o, permutations=permutations, seed=seed) for o in others]
    if not comps:
        return comps, []
    with all_or_nothing():
        written = [write_rows(out / "comparison.csv", list(comps[0].row()), [c.row().values() for c in comps])]
        written += [plots.plot_scatter(c, out / f"scatter_{stem}.png") for c, stem in zip(comps, stems)]
    return comps, written


def write_ensembles(study: EnsembleStudy, out: str | Path) -> list[Path]:
    """ensembles.csv, ensemble_summary.csv, ensemble_pairs.csv, ensemble_lambda.csv, ensemble_correlations.csv and
    two PNGs."""
    out = Path(out)
    names, measures = study.names, list(study.similarities)
    pairs = [[names[i], names[j], study.pair_gain[i, j]] + [study.similarities[m][i, j] for m in measures]
             for i in range(len(names)) for j in range(i + 1, len(names))]
    corr, summary = study.correlations, study.summary()
    with all_or_nothing():
        written = [write_rows(out / "ensembles.csv", ENSEMBLE_HEADER,
                              [[r[h] for h in ENSEMBLE_HEADER] for r in study.rows]),
                   write_rows(out / "ensemble_summary.csv", SUMMARY_HEADER, [r.values() for r in summary]),
                   write_rows(out / "ensemble_pairs.csv", ["a", "b", "pair_gain"] + measures, pairs),
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
        written = [write_rows(out / "distill_runs.csv", ["teacher", "seed", "test_accuracy", "train_seconds"],
                              [[r.teacher or "", r.seed, r.test_accuracy, r.seconds] for r in runs]),
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
