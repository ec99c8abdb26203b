"""`archsim demo [--config FILE] [--out DIR]`: everything on one zoo, then one self-contained HTML report.

Stages, each the code of the command named, with its files in DIR:

1. zoo: train (or load from the weights cache) every model; DIR/zoo.csv (`archsim zoo train`);
2. SAT through the run store in DIR, so a rerun computes nothing; DIR/sat.csv, transfer.csv, pairs.csv,
   clean_accuracy.csv (`archsim sat`);
3. the similarity measures of --metrics; DIR/<metric>.csv (`archsim similarity`). A measure's
   matrix is reused when DIR/<metric>.key.json says it was made from the same models (weights),
   images, options and seed; a measure that fails for the zoo is skipped with its reason;
4. components of the models, clustering of SAT, component importance and the comparison of SAT with
   each measure; DIR/analysis/ (`archsim components`, `archsim analyze`), plus sat_heatmap.png;
5. ensembles chosen by SAT and by each measure, checked on the test images; DIR/ensembles/
   (`archsim ensemble`; skipped without `data.validation`), with the config's `ensemble:` size and draws;
6. distillation into the config's `distill.student` from each of `distill.teachers`; DIR/distill/
   (`archsim distill --train`, students cached; skipped when the config names no student);
7. DIR/report.html, one file with every figure embedded.

The default config is configs/demo.yaml of the archsim repository (found from
the installed package, whatever the working directory).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from archsim.errors import ArchsimError
from archsim.matrices import mean_to_others
from archsim.measure_cache import cached_measure, saved_if_current, write_sidecar
from archsim.terminal_table import format_table

DEFAULT_METRICS = ("cka", "svcca", "gradient", "grassmann", "atoms")
DEFAULT_OUT = "runs/demo"


def default_config_path() -> Path:
    """configs/demo.yaml next to the archsim package (the repository's configs folder)."""
    return Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run everything on a zoo and write one self-contained HTML report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help=f"YAML run config (default: {default_config_path()})")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"run directory (default: {DEFAULT_OUT})")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                   help=f"comma-separated similarity measures to compare with SAT (default: "
                        f"{','.join(DEFAULT_METRICS)}; empty: none)")
    p.add_argument("--device", help="override the config's device (cpu, cuda, auto)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


class Stages:
    """Wall time and an outcome line per stage, for the final summary."""

    def __init__(self):
        self.rows: list[tuple[str, float, str]] = []

    def add(self, name: str, start: float, outcome: str) -> None:
        self.rows.append((name, time.perf_counter() - start, outcome))
        tqdm.write(f"[{name}] {outcome} ({self.rows[-1][1]:.1f} s)")  # above any progress bar


def run(args: argparse.Namespace) -> int:
    from archsim.build import build_run
    from archsim.config import load_config
    from archsim.sat_command import sat_in_store
    from archsim.similarity_command import measure_options
    from archsim.predictions import predict_run
    from archsim.zoo_command import write_zoo_csv, zoo_rows

    start = time.perf_counter()
    config_path = Path(args.config) if args.config else default_config_path()
    if not config_path.is_file():
        raise ArchsimError(f"config file not found: {config_path}"
                           + ("" if args.config else " (the default demo config; pass --config FILE)"))
    cfg = load_config(config_path)
    if args.device:
        cfg.device = args.device
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    options = {m: measure_options(cfg, m) for m in metrics}  # unknown names and options fail before training
    progress = not args.no_progress
    out = Path(args.out)
    stages = Stages()

    t = time.perf_counter()
    run_ = build_run(cfg, progress=progress)
    predictions = predict_run(cfg, run_, progress=progress)  # the zoo table's accuracies and the ensembles
    zoo = zoo_rows(cfg, run_, predictions)
    write_zoo_csv(out, zoo)
    stages.add("zoo", t, f"{len(zoo)} models: {len(run_.train_seconds)} trained, "
                         f"{len(zoo) - len(run_.train_seconds)} loaded")

    t = time.perf_counter()
    sat, units = sat_in_store(out, cfg, run_, progress=progress)
    sat.write(out)
    stages.add("SAT", t, units.summary())

    t = time.perf_counter()
    measures, notes = {}, []
    for metric in tqdm(metrics, desc="measures", unit="measure", disable=not progress or not metrics):
        m = time.perf_counter()
        try:
            measures[metric], metric_notes, how = cached_measure(out, metric, options[metric], cfg, run_, progress)
            notes += metric_notes
            stages.add(metric, m, f"{how} {out / (metric + '.csv')}")
        except Exception as e:  # noqa: BLE001 - a measure that fails for this zoo is skipped, not fatal
            notes.append(f"{metric}: skipped: {type(e).__name__}: {e}")
            stages.add(metric, m, f"skipped: {e}")
    for note in notes:
        print(f"note: {note}")

    t = time.perf_counter()
    from analysis.commands import report_warnings

    with report_warnings():
        analysis = _analyse(out / "analysis", cfg, sat, measures, notes)
    stages.add("analysis", t, analysis.outcome)

    sims = {"sat": (sat.names, sat.sat), **measures}
    t = time.perf_counter()
    extra = []
    section, outcome = _ensembles(out / "ensembles", cfg, run_, predictions, sims, options)
    extra += [section] if section is not None else []
    stages.add("ensembles", t, outcome)
    t = time.perf_counter()
    section, outcome = _distillation(out / "distill", cfg, run_, sims, options, progress)
    extra += [section] if section is not None else []
    stages.add("distillation", t, outcome)

    t = time.perf_counter()
    report_path = _write_report(out / "report.html", config_path, cfg, run_, zoo, sat, units, analysis, notes,
                                extra, start)
    stages.add("report", t, f"{analysis.figure_count} figures")

    _print_summary(zoo, sat, analysis, stages, time.perf_counter() - start)
    print(f"report: {report_path.resolve()}")
    return 0


# -- stage 4: analysis -------------------------------------------------------------------------------------------

class Analysis:
    """What the report needs from stage 4; None where a step was skipped (reason in `skipped`)."""

    def __init__(self, out: Path):
        self.out = out
        self.clusters = None
        self.importance = None
        self.comparisons: list = []  # (metric, Comparison, n models compared)
        self.figures: dict[str, Path] = {}  # role -> PNG path
        self.skipped: dict[str, str] = {}  # report section heading -> reason
        self.outcome = ""
        self.figure_count = 0


def _analyse(out: Path, cfg, sat, measures: dict, notes: list[str]) -> Analysis:
    from analysis import plots
    from analysis.matrix_input import MIN_MODELS, validate_similarity
    from analysis.outputs import write_clustering, write_comparisons
    from analysis.report import SECTIONS

    a = Analysis(out)
    out.mkdir(parents=True, exist_ok=True)
    if len(sat.names) < MIN_MODELS:
        reason = f"needs at least {MIN_MODELS} models; the zoo has {len(sat.names)}"
        for key in ("sat", "maps", "importance", "comparison"):
            a.skipped[SECTIONS[key]] = reason
        a.outcome = f"skipped: {reason}"
        return a
    m = validate_similarity(sat.names, sat.sat, source="SAT")
    a.clusters, files = write_clustering(m, out, seed=cfg.seed)
    cl = a.clusters
    a.figures["sat"] = plots.plot_clustered_heatmap(m.values, cl.names, cl.linkage, cl.labels,
                                                    out / "sat_heatmap.png", title="SAT = ln(100 x transfer rate)")
    a.figures.update({"dendrogram": files[1], "tsne": files[2], "mds": files[3], "spectrum": files[4]})
    parts = [f"{cl.k} clusters"]

    features = _components(out, cfg)
    n_pairs = len(m.pairs())
    folds = min(5, n_pairs // 2)
    if features is None:
        a.skipped[SECTIONS["importance"]] = "the components of the models could not be derived"
    elif folds < 2:
        a.skipped[SECTIONS["importance"]] = (f"{n_pairs} model pairs are too few for cross-validated "
                                             f"component importance (at least 4 needed)")
    else:
        from analysis.outputs import write_importance

        columns, table = features
        try:
            a.importance, files = write_importance(m, list(m.names), table, columns, out, folds=folds, seed=cfg.seed)
            a.figures["importance"] = files[-1]
            parts.append("importance")
        except (ArchsimError, ValueError) as e:
            a.skipped[SECTIONS["importance"]] = f"component importance failed: {e}"

    others, compared = [], []
    for metric, (names, values) in measures.items():
        other, why = _comparable(metric, names, values, m.names)
        if other is None:
            notes.append(f"{metric}: not compared with SAT: {why}")
            continue
        if why:
            notes.append(f"{metric}: {why}")
        others.append(other)
        compared.append(metric)
    comps, files = write_comparisons(m, others, compared, out, seed=cfg.seed)
    a.comparisons = list(zip(compared, comps))
    a.figures.update({f"scatter_{metric}": f for metric, f in zip(compared, files[1:])})
    if a.comparisons:
        parts.append(f"SAT compared with {', '.join(compared)}")
    elif not measures:
        a.skipped[SECTIONS["comparison"]] = "no other similarity measure was computed"
    a.outcome = "; ".join(parts)
    return a


def _comparable(metric: str, names: list[str], values: np.ndarray, sat_names: list[str]):
    """(SimilarityMatrix over the models the measure has values for, a note) or (None, why not)."""
    from analysis.matrix_input import MIN_MODELS, validate_similarity

    values = np.asarray(values, dtype=float)
    off = ~np.eye(len(names), dtype=bool)
    keep = [i for i in range(len(names)) if names[i] in sat_names and not np.isnan(values[i][off[i]]).all()]
    dropped = [n for i, n in enumerate(names) if i not in keep]
    if len(keep) < MIN_MODELS:
        return None, f"values for {len(keep)} model(s) only"
    try:
        m = validate_similarity([names[i] for i in keep], values[np.ix_(keep, keep)], source=metric)
    except ArchsimError as e:
        return None, str(e)
    note = f"compared with SAT on {len(keep)} of {len(names)} models (no value for {', '.join(dropped)})" \
        if dropped else ""
    return m, note


def _components(out: Path, cfg):
    """(component columns, {label: {column: value}}) of the config's models; features.csv is cached."""
    from analysis.components_table import derive_table, entries_from_specs, read_features, write_components

    entries = entries_from_specs(cfg.models)
    key = json.loads(json.dumps([vars(e) for e in entries], default=str))
    path = out / "features.csv"
    if saved_if_current(path, key) is not None:
        return read_features(path)
    try:
        rows, _ = derive_table(entries)
    except ArchsimError as e:
        print(f"warning: components not derived: {e}")
        return None
    write_components(path, rows)
    write_sidecar(path, key)
    return read_features(path)


# -- stages 5 and 6: ensembles and distillation ------------------------------------------------------------------

def _ensembles(out: Path, cfg, run_, predictions, sims: dict, options: dict):
    """(report section or None, outcome): members chosen by SAT and each measure, checked on the test images."""
    from analysis.report_sections import ensemble_section
    from archsim.ensemble_command import ensemble_stage
    from archsim.ensemble_settings import ensemble_settings

    if run_.validation is None:
        return None, "skipped: the config has no validation images (data.validation) to choose members on"
    settings = ensemble_settings(cfg.ensemble)
    if settings["size"] > len(cfg.models):
        return None, f"skipped: ensemble.size {settings['size']} exceeds the {len(cfg.models)} models"
    study, _ = ensemble_stage(out, cfg, run_, predictions, sims, options, settings)
    for note in study.notes:
        print(f"note: {note}")
    best = max(study.summary(), key=lambda r: r[4])
    return (ensemble_section(study, out, len(run_.validation), len(run_.images)),
            f"k = {study.k}: best {best[1]}{f' ({best[0]})' if best[0] else ''} at {best[4]:.3f} test accuracy")


def _distillation(out: Path, cfg, run_, sims: dict, options: dict, progress: bool):
    """(report section or None, outcome): the config's student distilled from each teacher, and the baseline."""
    from analysis.report_sections import distill_section
    from archsim.distill_command import distill_stage
    from archsim.distillation import distill_settings

    settings = distill_settings(cfg.distill)
    if not settings["student"] or not settings["teachers"]:
        return None, "skipped: the config's distill section names no student and teachers"
    _, study, _ = distill_stage(out, cfg, run_, sims, options, settings, train=True, progress=progress)
    best = max(study.teachers, key=lambda t: study.gain[t])
    return (distill_section(study, settings, out),
            f"{settings['student']} from {len(study.teachers)} teachers x {settings['seeds']} seeds: best "
            f"{best} ({study.gain[best]:+.3f})")


# -- stage 7: the report -----------------------------------------------------------------------------------------

def _write_report(path: Path, config_path: Path, cfg, run_, zoo, sat, units, analysis: Analysis, notes,
                  extra: list, start: float) -> Path:
    import timm
    import torch

    import archsim
    from analysis.report import Figure, ReportData, Table, render_report
    from archsim.files import atomic_path

    def fig(role: str, caption: str) -> list[Figure]:
        p = analysis.figures.get(role)
        return [Figure(p.name, p.read_bytes(), caption)] if p is not None else []

    attack = cfg.attack
    summary = {"models": len(sat.names), "test images": len(run_.images),
               "validation images": 0 if run_.validation is None else len(run_.validation),
               "attack": f"PGD {attack.get('norm', '')}, eps {attack.get('eps')}, {attack.get('steps')} steps",
               "SAT units": units.summary(), "device": str(cfg.torch_device()), "seed": cfg.seed,
               "config": str(config_path), "time (this run)": f"{time.perf_counter() - start:.1f} s"}
    zoo_table = Table(["model", "timm name", "params (M)", "weights", "train s", "val acc", "test acc"],
                      [[r[0], r[1], r[2] / 1e6, r[3], r[4], r[5], r[6]] for r in zoo])
    data = ReportData(title="archsim demo report", summary=summary, zoo=zoo_table, seed=cfg.seed,
                      config_text=config_path.read_text(),
                      versions={"archsim": archsim.__version__, "torch": torch.__version__, "timm": timm.__version__,
                                "python": platform.python_version(), "platform": platform.platform()},
                      skipped=dict(analysis.skipped), measure_notes=list(notes), extra=list(extra))
    cl = analysis.clusters
    cluster = dict(zip(cl.names, cl.labels)) if cl is not None else {}
    data.models = Table(["model", "test acc", "white-box success", "mean SAT to others", "cluster"],
                        [[n, float(sat.clean_accuracy[i]), float(sat.transfer[i, i]), mean_to_others(sat.sat, i),
                          int(cluster[n]) if n in cluster else None] for i, n in enumerate(sat.names)],
                        caption="white-box success = the PGD attack's success rate on the model's own correctly "
                                "classified test images (the SAT diagonal is its ln(100 x rate))")
    if cl is not None:
        data.sat_figure = fig("sat", "SAT matrix (natural log of 100 x the pooled transfer rate); rows and columns "
                                     "in the order of the average-linkage dendrogram above it.")[0]
        data.cluster_figures = fig("spectrum", f"Eigenvalues of the normalised Laplacian; k = {cl.k} "
                                               f"({cl.k_method}).")
        data.maps = fig("mds", "Metric MDS of the SAT dissimilarity (max SAT - SAT), coloured by spectral cluster.") \
            + fig("tsne", "t-SNE of the same dissimilarity.")
    pairs = sorted((p for p in sat.pairs() if p["a"] != p["b"]), key=lambda p: -p["sat"])
    if pairs:
        data.pairs = Table(["model A", "model B", "|X_AB|", "SAT", "95% CI low", "95% CI high", "A to B", "B to A"],
                           [[p["a"], p["b"], p["n_common"], p["sat"], p["ci_low"], p["ci_high"], p["rate_a_to_b"],
                             p["rate_b_to_a"]] for p in pairs],
                           caption="All pairs, most similar first. X_AB: test images both models classify "
                                   "correctly; A to B: share of A's adversarial images that fool B; the interval "
                                   "is the 95% Wilson interval of the pooled rate, on the SAT scale.")
    if analysis.importance is not None:
        imp = analysis.importance
        data.importance = Table(["method", "R^2 (in sample)", "CV R^2", "CV R^2 std", "models", "pairs"],
                                [[meth, f["r2"], f["cv_r2"], f["cv_r2_std"], imp.n_models, imp.n_pairs]
                                 for meth, f in imp.fit.items()],
                                caption="How well pairs of component values predict SAT (cross-validated over "
                                        "model pairs).")
        data.importance_figures = fig("importance", "Importance of each architectural component for SAT.")
    if analysis.comparisons:
        data.comparisons = Table(
            ["measure", "models", "pairs", "Spearman rho", "Spearman p", "Kendall tau", "Pearson r", "Mantel r",
             "Mantel p", "NN agreement"],
            [[metric, c.n_models, c.n_pairs, c.spearman, c.spearman_p, c.kendall, c.pearson, c.mantel_r, c.mantel_p,
              c.nn_agreement] for metric, c in analysis.comparisons],
            caption="Rank and linear correlations of the off-diagonal pairs; Mantel: permutation test over "
                    f"model relabelings ({analysis.comparisons[0][1].permutations} permutations).")
        for metric, _ in analysis.comparisons:
            data.comparison_figures += fig(f"scatter_{metric}", f"SAT against {metric}, one point per model pair.")
    html = render_report(data)
    analysis.figure_count = html.count("<img ")
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


# -- the terminal summary -------------------------------------------------------------------------------

def _print_summary(zoo, sat, analysis: Analysis, stages: Stages, seconds: float) -> None:
    test = {r[0]: r[6] for r in zoo}
    cluster = dict(zip(analysis.clusters.names, analysis.clusters.labels)) if analysis.clusters else {}
    print(f"\n{len(sat.names)} models, {sat.clean_correct.shape[1]} images, {seconds:.1f} s")
    rows = [[n, f"{test[n]:.3f}", f"{sat.transfer[i, i]:.3f}", _or_dash(mean_to_others(sat.sat, i)),
             str(cluster.get(n, "-"))] for i, n in enumerate(sat.names)]
    print(format_table(["model", "test acc", "white-box", "mean SAT to others", "cluster"], rows))
    print()
    print(format_table(["stage", "seconds", "outcome"], [[n, f"{s:.1f}", o] for n, s, o in stages.rows], "<><"))


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
