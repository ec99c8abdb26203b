"""`archsim demo [--config FILE] [--out DIR]`: everything on one zoo, then one self-contained HTML report.

Stages, each the code of the command named, with its files in DIR:

1. zoo: train (or load from the weights cache) every model; DIR/zoo.csv (`archsim zoo train`);
2. SAT through the run store in DIR, so a rerun computes nothing; DIR/sat.csv, transfer.csv, pairs.csv,
   clean_accuracy.csv (`archsim sat`);
3. the similarity measures of --measures; DIR/<measure>.csv (`archsim similarity`). A measure's
   matrix is reused when DIR/<measure>.key.json says it was made from the same models (weights),
   images, options and seed; a measure that fails for the zoo is skipped with its reason;
4. components of the models, clustering of SAT, component importance and the comparison of SAT with
   each measure; DIR/analysis/ (`archsim components`, `archsim analyze`), plus sat_heatmap.png; then the
   known-answer scorecard of every measure (seeds, split-half reliability, layer order); DIR/scorecard.csv
   (`archsim scorecard`, which adds the untrained copies);
5. the decisions, every choice made on the validation images: SAT and every measure computed again on
   them (DIR/validation/, SAT's units in the same store); ensembles chosen by SAT and by each measure,
   the recommended one set against the k most accurate models and the best single model on the test
   images; DIR/ensembles/ with recommendation.json (`archsim ensemble`; skipped without
   `data.validation`), with the config's `ensemble:` size and draws;
6. distillation into the config's `distill.student` from each of `distill.teachers`, the recommended
   teacher set against labels-only training; DIR/distill/ with recommendation.json (`archsim distill
   --train`, students cached; skipped when the config names no student); then which measure predicts
   what: each measure's Spearman rho with pair ensemble gain and with distillation gain, ranked, and
   the decision benchmark over random sub-pools; DIR/predictions/ (`analysis.decisions.prediction_table`,
   `analysis.decisions.subpools`);
7. DIR/report.html, one file with every figure embedded, the answers first.

The default config is configs/demo.yaml of the archsim repository (found from
the installed package, whatever the working directory).
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from analysis.decisions.prediction_table import prediction_rows, write_predictions
from analysis.decisions.stages import distill_stage, ensemble_stage, subpool_stage
from analysis.decisions.subpools import HEADER as SUBPOOL_HEADER
from analysis.report.demo_analysis import Analysis, analyse
from analysis.report.demo_report import write_report
from analysis.report.demo_scorecard import scorecard_stage
from analysis.report.sections import (
    answer_sections,
    distill_section,
    ensemble_section,
    prediction_section,
    subpool_section,
)
from archsim.cli.args import check_out_dir, report_warnings
from archsim.config import load_config
from archsim.errors import ArchsimError
from archsim.files import write_rows
from archsim.matrices import mean_to_others
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.similarity.compute import VALIDATION_FOLDER, cached_decision_similarities, cached_measure
from archsim.similarity.registry import measure_names, measure_options
from archsim.store import RunStore
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run
from archsim.zoo.predictions import predict_run
from archsim.zoo.zoo_table import write_zoo_csv, zoo_rows

DEFAULT_MEASURES = ("cka", "svcca", "gradient", "grassmann", "atoms", "procrustes", "shape", "rsa", "mutual-knn",
                    "cknna", "linear-predictivity", "disagreement", "js-divergence", "error-consistency",
                    "double-fault", "yules-q")
DEFAULT_OUT = "runs/demo"


def default_config_path() -> Path:
    """demo.yaml of the configs shipped with the package (`archsim.configs`, the repository's configs/ folder)."""
    return Path(str(importlib.resources.files("archsim.configs") / "demo.yaml"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run everything on a zoo and write one self-contained HTML report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help=f"YAML run config (default: {default_config_path()})")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"run directory (default: {DEFAULT_OUT})")
    p.add_argument("--measures", default=",".join(DEFAULT_MEASURES),
                   help=f"comma-separated similarity measures to compare with SAT (default: "
                        f"{','.join(DEFAULT_MEASURES)}; empty: none)")
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
    start = time.perf_counter()
    config_path = Path(args.config) if args.config else default_config_path()
    if not config_path.is_file():
        raise ArchsimError(f"config file not found: {config_path}"
                           + ("" if args.config else " (the default demo config; pass --config FILE)"))
    cfg = load_config(config_path)
    if args.device:
        cfg.device = args.device
    metrics = measure_names(args.measures) if args.measures.strip() else []
    options = {m: measure_options(cfg, m) for m in metrics}  # unknown names and options fail before training
    progress = not args.no_progress
    out = check_out_dir(args.out)
    RunStore(out).close()  # a damaged store stops the demo before any training
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
    fragile = sat.fragility_warnings(cfg.noise_warning) + sat.sanity_warnings(run_.images.num_classes)
    for line in fragile:
        print(f"warning: {line}", file=sys.stderr)

    t = time.perf_counter()
    measures, notes = {}, [f"sat: {line}" for line in fragile]
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
    with report_warnings():
        analysis = analyse(out / "analysis", cfg, sat, measures, notes, options)
    stages.add("analysis", t, analysis.outcome)

    t = time.perf_counter()
    section, outcome = scorecard_stage(out, cfg, run_, sat, measures, options, progress)
    extra = [section] if section is not None else []
    stages.add("scorecard", t, outcome)

    ensembles, distilled = None, None
    if run_.validation is None:
        stages.add("decisions", time.perf_counter(), "skipped: the config has no validation images (data.validation) "
                                                     "to choose on")
    else:
        t = time.perf_counter()
        sims, val_notes = cached_decision_similarities(out, cfg, run_, ["sat", *measures], options,
                                                       progress=progress)
        for note in val_notes:
            print(f"note: {note}")
        stages.add("validation measures", t, f"sat and {len(sims) - 1} measures on the {len(run_.validation)} "
                                             f"validation images ({out / VALIDATION_FOLDER})")
        t = time.perf_counter()
        section, outcome, ensembles = _ensembles(out / "ensembles", cfg, run_, predictions, sims, options)
        extra += [section] if section is not None else []
        stages.add("ensembles", t, outcome)
        t = time.perf_counter()
        section, outcome, distilled = _distillation(out / "distill", cfg, run_, sims, options, progress)
        extra += [section] if section is not None else []
        stages.add("distillation", t, outcome)
        t = time.perf_counter()
        extra += decision_evidence(out / "predictions", cfg, run_, predictions, sims, options, ensembles, distilled)
        stages.add("predictions", t, "which measure predicts what; the decisions on random sub-pools")

    t = time.perf_counter()
    answers = answer_sections(sat, ensembles, distilled, cfg)
    report_path = write_report(out / "report.html", config_path, cfg, run_, zoo, sat, units, analysis, notes,
                               extra, start, answers)
    stages.add("report", t, f"{analysis.figure_count} figures")

    _print_summary(zoo, sat, analysis, stages, time.perf_counter() - start)
    print(f"report: {report_path.resolve()}")
    return 0


# -- stages 5 and 6: the decisions ------------------------------------------------------------------------------

def _ensembles(out: Path, cfg, run_, predictions, sims: dict, options: dict):
    """(report section, outcome, study), section and study None when skipped: members chosen by SAT and each
    measure on the validation images, the recommendation checked on the test images."""
    settings = cfg.ensemble
    if settings.size > len(cfg.models):
        return None, f"skipped: ensemble.size {settings.size} exceeds the {len(cfg.models)} models", None
    study, _ = ensemble_stage(out, cfg, run_, predictions, sims, options, settings)
    for note in study.notes:
        print(f"note: {note}")
    rec = study.recommendation
    return (ensemble_section(study, out, len(run_.validation), len(run_.images), cfg.shift),
            f"k = {study.k}: use {' '.join(rec.members)} ({rec.chosen_by}), {rec.test_accuracy:.3f} test accuracy, "
            f"vs top-k {rec.difference_vs_top_k.points()}", study)


def _distillation(out: Path, cfg, run_, sims: dict, options: dict, progress: bool):
    """(report section, outcome, DistillOutcome), section and outcome None when skipped: the config's student
    distilled from each teacher, and the baseline."""
    settings = cfg.distill
    if not settings.student or not settings.teachers:
        return None, "skipped: the config's distill section names no student and teachers", None
    result = distill_stage(out, cfg, run_, sims, options, settings, train=True, progress=progress)
    for note in result.notes:
        print(f"note: {note}")
    rec = result.recommendation
    gain = "" if rec.gain is None else f" ({rec.gain.points()} over labels only)"
    return (distill_section(result, settings, out, cfg.shift),
            f"{settings.student} from {len(settings.teachers)} teachers x {settings.seeds} seeds: "
            f"{'distil from ' + rec.teacher if rec.teacher else 'no teacher'}{gain}", result)


def decision_evidence(out: Path, cfg, run_, predictions, sims: dict, options: dict, ensembles, distilled) -> list:
    """The report sections on which measure predicts what, and the decisions on random sub-pools."""
    rows = prediction_rows(ensembles, distilled.study if distilled is not None else None)
    sections = []
    if rows:
        write_predictions(rows, out)
        sections.append(prediction_section(rows, out))
    subpool_rows = subpool_stage(cfg, run_, predictions, sims, options, distilled)
    if subpool_rows:
        write_rows(out / "subpools.csv", SUBPOOL_HEADER, [r.values() for r in subpool_rows])
        sections.append(subpool_section(subpool_rows))
    return sections


# -- the terminal summary -------------------------------------------------------------------------------

def _print_summary(zoo, sat, analysis: Analysis, stages: Stages, seconds: float) -> None:
    test = {r.model: r.test_accuracy for r in zoo}
    cluster = dict(zip(analysis.clusters.names, analysis.clusters.labels)) if analysis.clusters else {}
    print(f"\n{len(sat.names)} models, {sat.clean_correct.shape[1]} images, {seconds:.1f} s")
    noise = sat.noise_error
    rows = [[n, f"{test[n]:.3f}", f"{sat.transfer[i, i]:.3f}", _or_dash(None if noise is None else noise[i]),
             _or_dash(mean_to_others(sat.sat_measured, i)), str(cluster.get(n, "-"))] for i, n in enumerate(sat.names)]
    print(format_table(["model", "test acc", "white-box", "noise error", "mean SAT to others", "cluster"], rows))
    print()
    print(format_table(["stage", "seconds", "outcome"], [[n, f"{s:.1f}", o] for n, s, o in stages.rows], "<><"))


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
