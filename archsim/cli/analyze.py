"""`archsim analyze --matrix M.csv [--features F.csv | --derive-features] [--clusters K] [--compare OTHER.csv ...] --out DIR`.

Writes into DIR: clusters.csv (model, cluster, hierarchical_cluster),
dendrogram.png, tsne.png, mds.png, spectrum.png; with features importance.csv
(component, importance, method), importance_fit.csv and importance.png (and
features.csv when derived); with --compare comparison.csv and one
scatter_<name>.png per compared matrix. Warnings (symmetrised input, names
that do not match, unknown component patterns) are printed as one line each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.components.table import ModelEntry, derive_table, read_features, write_components
from analysis.matrix.load import common_models, load_similarity
from analysis.matrix.write import write_clustering, write_comparisons, write_importance
from archsim.cli.args import check_out_dir, report_warnings


def register(sub) -> None:
    a = sub.add_parser("analyze", help="cluster models, rank components, compare similarity matrices",
                       description="Analyse a model x model similarity matrix (sat.csv format; larger = more "
                                   "similar). The matrix must be square with the same names in the header and "
                                   "the first column; an asymmetric one is replaced by (S + S^T) / 2 with a "
                                   "warning; the diagonal is never used (NaN allowed there); an empty "
                                   "off-diagonal cell takes its mirror's value, and a pair empty both ways "
                                   "is an error.")
    a.add_argument("--matrix", required=True, help="similarity matrix CSV (larger = more similar)")
    feats = a.add_mutually_exclusive_group()
    feats.add_argument("--features", help="components CSV with a 'Model name' column")
    feats.add_argument("--derive-features", action="store_true",
                       help="derive components from the matrix's model names (timm names)")
    a.add_argument("--clusters", type=int, metavar="K", help="number of clusters (default: chosen by --choose-k)")
    a.add_argument("--choose-k", choices=["eigengap", "silhouette"], default="eigengap")
    a.add_argument("--max-clusters", type=int, default=10, help="largest k tried when choosing (default 10)")
    a.add_argument("--affinity", choices=["exp", "linear"], default="exp",
                   help="exp(S) for log-scale similarities such as SAT (default), linear for e.g. CKA")
    a.add_argument("--compare", nargs="+", action="extend", default=[], metavar="OTHER.csv",
                   help="matrices to compare with --matrix")
    a.add_argument("--permutations", type=int, default=999, help="Mantel test permutations (default 999)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", required=True, help="output directory")
    a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = check_out_dir(args.out)
    written = []
    with report_warnings():
        m = load_similarity(args.matrix)
        features = _features(args, m, out, written)
        others = [load_similarity(p) for p in args.compare]

        cl, files = write_clustering(m, out, k=args.clusters, k_method=args.choose_k, k_max=args.max_clusters,
                                     affinity_kind=args.affinity, seed=args.seed)
        written += files
        print(f"{len(cl.names)} models in {cl.k} clusters (k: {cl.k_method})")

        if features is not None:
            _importance(m, *features, args, out, written)
        else:
            print("no --features or --derive-features: component importance skipped")

        if others:
            comps, files = write_comparisons(m, others, [Path(p).stem for p in args.compare], out,
                                             permutations=args.permutations, seed=args.seed)
            written += files
            for c, path in zip(comps, args.compare):
                print(f"vs {path}: Spearman {c.spearman:.3f}, Mantel r {c.mantel_r:.3f} (p = {c.mantel_p:.3g}), "
                      f"NN agreement {c.nn_agreement:.2f}")
    print("wrote " + ", ".join(p.name for p in written) + f" to {out}")
    return 0


def _features(args, m, out: Path, written: list):
    """(names, features table, component columns) for the importance analysis, or None."""
    if args.features:
        columns, table = read_features(args.features)
        names = common_models(m.names, list(table), what=args.matrix, other_what=args.features)
    elif args.derive_features:
        rows, seconds = derive_table([ModelEntry(name=n, label=n) for n in m.names])
        written.append(write_components(out / "features.csv", rows))
        columns, table = read_features(out / "features.csv")
        names = list(m.names)
        print(f"derived components of {len(rows)} models in {seconds:.1f} s")
    else:
        return None
    return names, table, columns


def _importance(m, names, table, columns, args, out: Path, written: list) -> None:
    imp, files = write_importance(m, names, table, columns, out, seed=args.seed)
    written += files
    for meth, f in imp.fit.items():
        top = imp.rows()[[r[2] for r in imp.rows()].index(meth)][0]
        print(f"importance ({meth}): CV R^2 {f['cv_r2']:.3f} ± {f['cv_r2_std']:.3f}; top component: {top}")
