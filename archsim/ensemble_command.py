"""`archsim ensemble --config FILE --size K --similarity sat,cka,... --out DIR`: choose ensemble members, then check.

Builds the config's models and images as `archsim sat` does; needs validation
images (`data.validation`), on which all selection happens, disjoint from the
test images (`data.subset`), on which the chosen ensembles are evaluated. For
each measure of --similarity (`sat` through the run store in DIR, others read
back from DIR/<measure>.csv when `archsim demo` wrote them for these models, else
computed as `archsim similarity` computes them; a distance turned into its negative) it
selects K members by greedy diversity (lambda chosen on validation) and one per
cluster, beside top-K accuracy and seeded random draws that need no measure;
see `analysis.ensemble_study`. Writes into DIR:

    ensembles.csv              every selection: members, lambda, validation and test accuracy, gains
    ensemble_summary.csv       one row per measure and method (random: mean and sd over draws)
    ensemble_pairs.csv         every pair: its test pair-ensemble gain and its similarity under each measure
    ensemble_lambda.csv        per measure and lambda of the grid: the greedy members and their validation accuracy
    ensemble_correlations.csv  per measure: Spearman rho of pair similarity and pair gain, 95% bootstrap CI
    ensemble_accuracy.png, ensemble_pair_gain.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from archsim.errors import ArchsimError
from archsim.terminal_table import format_table


def register(sub: argparse._SubParsersAction) -> None:
    from archsim.command_args import add_run_arguments

    p = sub.add_parser("ensemble", help="choose diverse ensemble members by each similarity measure, and check",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, out_help="output folder (also the run store for sat)")
    p.add_argument("--size", type=int, help="K, the number of members (default: the config's ensemble.size, 3)")
    p.add_argument("--similarity", help="comma-separated measures: sat and any `archsim similarity` metric "
                                        "(default: the config's ensemble.similarity, sat)")
    p.add_argument("--draws", type=int, help="random K-subsets to compare with (default: ensemble.draws, 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archsim.build import build_run
    from archsim.command_args import run_config
    from archsim.matrices import measure_options_of, similarity_matrices
    from archsim.predictions import predict_run

    start = time.perf_counter()
    cfg = run_config(args)
    settings = command_settings(cfg, size=args.size, similarity=args.similarity, draws=args.draws)
    options = measure_options_of(cfg, settings["similarity"])  # misspelt measures fail before training
    check_pool(cfg, settings["size"])
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    sims, notes = similarity_matrices(args.out, cfg, run_, settings["similarity"], options, progress=progress)
    study, written = ensemble_stage(args.out, cfg, run_, predict_run(cfg, run_, progress=progress), sims, options,
                                    settings)
    for note in notes + study.notes:
        print(f"note: {note}")
    print_summary(study, time.perf_counter() - start)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def command_settings(cfg, *, size=None, similarity=None, draws=None) -> dict:
    """The config's ensemble section with the command line's values on top."""
    from archsim.ensemble_settings import ensemble_settings

    flags = {"size": size, "similarity": similarity, "draws": draws}
    return ensemble_settings({**cfg.ensemble, **{k: v for k, v in flags.items() if v is not None}},
                             "ensemble settings")


def check_pool(cfg, size: int) -> None:
    """Selection needs validation images and at least K models."""
    if cfg.data.get("validation") is None:
        raise ArchsimError("ensemble selection needs validation images, disjoint from the test images: add "
                           "`data.validation: {how: balanced, n: ..., seed: ...}` to the config")
    if size > len(cfg.models):
        raise ArchsimError(f"ensemble size {size} is larger than the pool's {len(cfg.models)} models")


def ensemble_stage(out, cfg, run_, predictions, sims: dict, options: dict, settings: dict):
    """The study over `sims` ({measure: (names, values)}) from the models' `predictions`, and its files."""
    from analysis.ensemble_study import study_ensembles
    from analysis.outputs import write_ensembles
    from archsim.matrices import oriented

    names = predictions.names
    matrices = {}
    for measure, (m_names, values) in sims.items():
        order = [list(m_names).index(n) for n in names]
        matrices[measure] = oriented(measure, values, options)[np.ix_(order, order)]
    study = study_ensembles(names, predictions.validation, run_.validation.labels.numpy(), predictions.test,
                            run_.images.labels.numpy(), matrices, k=settings["size"], draws=settings["draws"],
                            seed=cfg.seed)
    return study, write_ensembles(study, Path(out))


def print_summary(study, seconds: float) -> None:
    rows = study.summary()
    print(f"\nensembles of {study.k} from {len(study.names)} models, {seconds:.1f} s "
          f"(accuracy on the test images; selection saw only validation images)")
    print(format_table(["measure", "method", "softmax", "sd", "vote", "gain", "members"],
                       [[measure or "-", method, f"{soft:.3f}", "" if sd is None else f"{sd:.3f}", f"{vote:.3f}",
                         f"{gain:+.3f}", members + ("" if lam is None else f" (lambda {lam:g})")]
                        for measure, method, members, lam, soft, sd, vote, gain in rows], "<<>>>><"))
    for measure, c in study.correlations.items():
        print(f"{measure}: Spearman rho(pair similarity, pair-ensemble gain) = {c.rho:+.3f} "
              f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}] over {c.n_pairs} pairs")
