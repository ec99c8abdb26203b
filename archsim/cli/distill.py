"""`archsim distill --student NAME --teachers A,B,... --config FILE --out DIR [--train]`: which teacher to distil from.

Ranks the teachers for any student (pretrained, from a checkpoint or trained
here) by their similarity to the student under each measure of --measures,
computed on the validation images with no training (`sat` with its own attack
and evaluation units on them in the run store in DIR, others as `archsim
similarity --measure` computes them on the student and the teachers, or read back
from DIR/validation/<measure>.csv when it was written for exactly those models; a
distance turned into its negative); the first measure decides the pick. With
--train it checks the ranking: for each of --seeds seeds it trains the student
architecture from scratch by knowledge distillation from every teacher (Hinton et
al.; the config's `distill: {temperature, alpha, labels_per_class}`) and once
from the labels only, all with the same budget of optimizer steps (the student's
train settings, --epochs when given), says which images they train on, prints
every student's validation and test accuracy, and picks the teacher whose students
do best on the validation images; the test images give its gain over labels-only
training with a Student-t interval over the seeds (or "no teacher beats
labels-only beyond the seed spread"); see `analysis.decisions.stages`,
`analysis.decisions.recommendation` and `archsim.zoo.students`. Writes into DIR:

    recommendation.json       the decision: the teacher, how it was chosen, (--train) its gain over labels-only
                              {estimate, low, high}, the verdict
    distill_ranking.csv       measure, teacher, similarity to the student, rank (1 = most similar)
    distill_runs.csv          (--train) teacher, seed, validation and test accuracy, training seconds (empty: cached)
    distill_summary.csv       (--train) per teacher: mean and sd of test accuracy, gain over the baseline,
                              similarity and rank under each measure
    distill_correlations.csv  (--train) per measure: Spearman rho of similarity and gain over the teachers
    distill_gain.png          (--train) gain against similarity, one panel per measure
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from analysis.decisions.stages import distill_stage
from archsim.cli.args import add_run_arguments, run_config
from archsim.errors import ArchsimError
from archsim.similarity.compute import decision_similarities
from archsim.similarity.registry import measure_names, measure_options
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run
from archsim.zoo.students import check_roles


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="rank distillation teachers by similarity to a student; --train checks it",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, out_help="output folder (also the run store for sat)")
    p.add_argument("--student", help="the student's model label (default: the config's distill.student)")
    p.add_argument("--teachers", help="comma-separated teacher labels (default: distill.teachers)")
    p.add_argument("--measures", default="sat", help="comma-separated measures: sat and any `archsim similarity "
                                                     "--measure` name (default: sat)")
    p.add_argument("--train", action="store_true", help="train the students and report the gains")
    p.add_argument("--seeds", type=int, help="student seeds per teacher (default: distill.seeds, 3)")
    p.add_argument("--epochs", type=int, help="the student's training epochs (default: distill.epochs, else the "
                                              "student's train settings)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    settings = cfg.distill.with_overrides("distill settings", student=args.student, teachers=args.teachers,
                                          seeds=args.seeds, epochs=args.epochs)
    check_roles(cfg, settings.student, settings.teachers, train=args.train)
    if cfg.data.get("validation") is None:
        raise ArchsimError("teachers are ranked on validation images, disjoint from the test images: add "
                           "`data.validation: {how: balanced, n: ..., seed: ...}` to the config")
    measures = measure_names(args.measures)
    options = {m: measure_options(cfg, m) for m in measures}
    roles = [settings.student, *settings.teachers]
    cfg = dataclasses.replace(cfg, models=[s for s in cfg.models if s.label in roles])  # only these are built
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    sims, notes = decision_similarities(args.out, cfg, run_, measures, options, progress=progress)
    outcome = distill_stage(args.out, cfg, run_, sims, options, settings, train=args.train, progress=progress)
    for note in notes + outcome.notes:
        print(f"note: {note}")
    print_summary(outcome, settings, time.perf_counter() - start)
    print(f"wrote {', '.join(str(p) for p in outcome.written)}")
    print_decision(outcome.recommendation)
    return 0


def print_summary(outcome, settings, seconds: float) -> None:
    student, study = settings.student, outcome.study
    print(f"\nteachers for {student}, most similar first (similarity on the validation images; {seconds:.1f} s):")
    for measure, rs in outcome.ranking.items():
        print(f"{measure}: " + ", ".join(t if v is None else f"{t} ({v:.3f})" for t, v, _ in rs))
    if study is None:
        return
    print(f"\n{outcome.training}; {settings.seeds} seeds per teacher, T = {settings.temperature:g}, "
          f"alpha = {settings.alpha:g}")
    print(format_table(["student of", "seed", "val acc", "test acc"],
                       [[r.teacher or "(labels only)", str(r.seed), "-" if r.validation_accuracy is None
                         else f"{r.validation_accuracy:.3f}", f"{r.test_accuracy:.3f}"] for r in outcome.runs]))
    print(format_table(["teacher", "test acc", "sd", "gain", *study.measures],
                       [[t, f"{mean:.3f}", f"{sd:.3f}", f"{gain:+.3f}", *(s or "-" for s in shown)]
                        for t, mean, sd, gain, *shown in study.shown_rows()]))
    for measure, c in study.correlations.items():
        print(f"{measure}: Spearman rho(similarity to the student, gain) = {c.rho:+.3f} (p = {c.p:.3g}, "
              f"{c.n_teachers} teachers)")


def print_decision(rec) -> None:
    """The decision, last: the teacher (or none), how it was chosen, its gain over labels-only, the verdict."""
    print(f"\n{'distil from ' + rec.teacher if rec.teacher else 'no teacher: train on the labels only'}")
    if rec.trained:
        print(f"  chosen on the validation images: its students' mean validation accuracy "
              f"{rec.validation_accuracy.get(rec.teacher or 'labels only', float('nan')):.3f} (labels only "
              f"{rec.validation_accuracy['labels only']:.3f}); the most similar by {rec.measure}: "
              f"{rec.ranking[0] if rec.ranking else '-'}")
        if rec.gain is not None:
            print(f"  test accuracy {rec.test_accuracy[rec.teacher]:.3f} against labels only "
                  f"{rec.test_accuracy['labels only']:.3f}: {rec.gain.points()} (Student-t 95% over "
                  f"{rec.gain.n} seeds)")
    print(f"  verdict: {rec.verdict}")
