"""`archsim ensemble --config FILE --size K --measures sat,cka,... --out DIR`: choose ensemble members, then check.

Builds the config's models and images as `archsim sat` does; needs validation
images (`data.validation`), on which every choice is made, disjoint from the
test images (`data.subset`), which only score the choice. For each measure of
--measures, computed on the validation images (`sat` with its own attack and
evaluation units on them in the run store in DIR, others read back from
DIR/validation/<measure>.csv when `archsim demo` wrote them for these models, else
computed as `archsim similarity` computes them; a distance turned into its
negative), it selects K members by greedy diversity (lambda chosen on validation)
and one per cluster, beside top-K accuracy and seeded random draws that need no
measure. It ends with a decision: the selection with the best validation
accuracy, top-K among the candidates, set against the K most accurate models and
the best single model with paired 95% intervals over the test images; see
`analysis.decisions.recommendation`. Writes into DIR:

    recommendation.json        the decision: members, rule, measure, test accuracy, both baselines, the
                               differences {estimate, low, high}, the verdict
    ensembles.csv              every selection: members, lambda, validation and test accuracy, and its
                               difference to the top-K ensemble and to the best single model (test)
    ensemble_summary.csv       one row per measure and method (random: mean and sd over draws)
    ensemble_pairs.csv         every pair: its test gain over its better member, its similarity under each measure
    ensemble_lambda.csv        per measure and lambda of the grid: the greedy members and their validation accuracy
    ensemble_correlations.csv  per measure: Spearman rho of pair similarity and pair gain, 95% bootstrap CI
    ensemble_accuracy.png, ensemble_pair_gain.png
"""

from __future__ import annotations

import argparse
import time

from analysis.decisions.stages import check_pool, ensemble_stage
from archsim import sanity
from archsim.cli.args import add_run_arguments, run_config
from archsim.similarity.compute import decision_similarities
from archsim.similarity.registry import measure_names, measure_options
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run
from archsim.zoo.predictions import predict_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ensemble", help="choose diverse ensemble members by each similarity measure, and check",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, out_help="output folder (also the run store for sat)")
    p.add_argument("--size", type=int, help="K, the number of members (default: the config's ensemble.size, 3)")
    p.add_argument("--measures", help="comma-separated measures: sat and any `archsim similarity --measure` name "
                                      "(default: the config's ensemble.measures, sat)")
    p.add_argument("--draws", type=int, help="random K-subsets to compare with (default: ensemble.draws, 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    settings = cfg.ensemble.with_overrides("ensemble settings", size=args.size, measures=args.measures,
                                           draws=args.draws)
    measures = measure_names(settings.measures)
    options = {m: measure_options(cfg, m) for m in measures}  # misspelt measures and options fail before training
    check_pool(cfg, settings.size)
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    sims, notes = decision_similarities(args.out, cfg, run_, measures, options, progress=progress)
    study, written = ensemble_stage(args.out, cfg, run_, predict_run(cfg, run_, progress=progress), sims, options,
                                    settings)
    for note in notes + study.notes:
        print(f"note: {note}")
    print_summary(study, time.perf_counter() - start)
    print(f"wrote {', '.join(str(p) for p in written)}")
    print_decision(study.recommendation)
    return 0


def print_summary(study, seconds: float) -> None:
    rows = study.summary()
    print(f"\nensembles of {study.k} from {len(study.names)} models, {seconds:.1f} s (test accuracy; every choice "
          f"made on the validation images; vs top-k and vs best single: test accuracy minus the baseline's)")
    print(format_table(["measure", "method", "softmax", "sd", "vote", "vs top-k", "vs best single", "members"],
                       [[measure or "-", method, f"{soft:.3f}", "" if sd is None else f"{sd:.3f}", f"{vote:.3f}",
                         f"{top:+.3f}", f"{single:+.3f}", members + ("" if lam is None else f" (lambda {lam:g})")]
                        for measure, method, members, lam, soft, sd, vote, top, single in (r.values() for r in rows)],
                       "<<>>>>><"))
    for measure, c in study.correlations.items():
        if sanity.interval_spans_range(c.ci_low, c.ci_high):
            continue  # said in the notes: too few models for it
        print(f"{measure}: Spearman rho(pair similarity, pair gain over its better member) = {c.rho:+.3f} "
              f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}] over {c.n_pairs} pairs")


def print_decision(rec) -> None:
    """The decision, last: what to use, how it was chosen, its evidence against both baselines, the verdict."""
    print(f"\nuse {', '.join(rec.members)}")
    print(f"  chosen on the validation images by {rec.chosen_by} (best validation accuracy, {rec.validation_accuracy:.3f}, "
          f"of {rec.candidates} candidates, top-k among them)")
    print(f"  test accuracy {rec.test_accuracy:.3f}; the {len(rec.top_k)} most accurate models "
          f"({', '.join(rec.top_k)}) {rec.top_k_test_accuracy:.3f}: {rec.difference_vs_top_k.points()}; the best single "
          f"model {rec.best_single} {rec.best_single_test_accuracy:.3f}: {rec.difference_vs_best_single.points()} "
          "(paired 95% bootstrap over the test images)")
    print(f"  verdict: {rec.verdict}")
