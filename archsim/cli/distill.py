"""`archsim distill --student NAME --teachers A,B,... --config FILE --out DIR [--train]`: which teacher to distil from.

Ranks the teachers by their similarity to the student under each measure of
--measures (`sat` through the run store in DIR, others as `archsim
similarity --measure` computes them on the student and the teachers, or read back from
DIR/<measure>.csv when it was written for exactly those models; a distance
turned into its negative). With --train it checks the ranking: for each of --seeds
seeds it trains the student architecture from scratch by knowledge
distillation from every teacher (Hinton et al.; the config's
`distill: {temperature, alpha}`) and once from the labels only, all with the
same budget (the student's train settings, --epochs when given), and scores
each on the test images; see `analysis.decisions.stages` and `archsim.zoo.students`. Writes into DIR:

    distill_ranking.csv       measure, teacher, similarity to the student, rank (1 = most similar)
    distill_runs.csv          (--train) teacher, seed, test accuracy, training seconds (empty: cached)
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
from archsim.similarity.compute import similarity_matrices
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
    check_roles(cfg, settings.student, settings.teachers)
    measures = measure_names(args.measures)
    options = {m: measure_options(cfg, m) for m in measures}
    roles = [settings.student, *settings.teachers]
    cfg = dataclasses.replace(cfg, models=[s for s in cfg.models if s.label in roles])  # only these are built
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    sims, notes = similarity_matrices(args.out, cfg, run_, measures, options, progress=progress)
    ranking, study, written = distill_stage(args.out, cfg, run_, sims, options, settings, train=args.train,
                                            progress=progress)
    for note in notes:
        print(f"note: {note}")
    print_summary(ranking, study, settings, time.perf_counter() - start)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def print_summary(ranking: dict, study, settings, seconds: float) -> None:
    student = settings.student
    if study is None:
        print(f"\nteachers for {student}, most similar first ({seconds:.1f} s; --train checks the ranking):")
        for measure, rs in ranking.items():
            print(f"{measure}: " + ", ".join(t if v is None else f"{t} ({v:.3f})" for t, v, _ in rs))
        return
    print(f"\nstudent {student}: {settings.seeds} seeds per teacher, T = {settings.temperature:g}, "
          f"alpha = {settings.alpha:g}, {seconds:.1f} s")
    print(format_table(["teacher", "test acc", "sd", "gain", *study.measures],
                       [[t, f"{mean:.3f}", f"{sd:.3f}", f"{gain:+.3f}", *(s or "-" for s in shown)]
                        for t, mean, sd, gain, *shown in study.shown_rows()]))
    for measure, c in study.correlations.items():
        print(f"{measure}: Spearman rho(similarity to the student, gain) = {c.rho:+.3f} (p = {c.p:.3g}, "
              f"{c.n_teachers} teachers)")
