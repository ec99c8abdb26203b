"""The files `archsim analyze` (and `archsim demo`) write for one similarity matrix.

Each function runs one analysis, writes its CSV and PNG files into `out`, all
or nothing (`archsim.files.all_or_nothing`), and returns the result with the
paths written:

- `write_clustering`: clusters.csv, dendrogram.png, tsne.png, mds.png, spectrum.png;
- `write_importance`: importance.csv, importance_fit.csv, importance.png;
- `write_comparisons`: comparison.csv and one scatter_<name>.png per compared matrix.
"""

from __future__ import annotations

from pathlib import Path

from analysis.matrix import plots
from analysis.matrix.clustering import ClusterResult, cluster_models
from analysis.matrix.compare import Comparison, compare_matrices
from analysis.matrix.importance import Importance, component_importance
from analysis.matrix.load import SimilarityMatrix
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
