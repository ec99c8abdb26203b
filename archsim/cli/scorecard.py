"""`archsim scorecard --config FILE --out DIR`: which measure finds what is known to be there, on your own models.

Builds the run as `archsim sat` does, computes SAT (through the run store in DIR) and every measure of
--measures (DIR/<measure>.csv, reused when current, as `archsim demo` does), then puts SAT, sat-adjusted,
each measure and their fused mean rank through the known-answer tests of --tests:

    seeds         two seeds of one architecture should be nearer than two architectures: AUC of
                  same- against different-architecture pairs, and the share of seed pairs that are mutual
                  nearest (skipped, with a note, when no architecture has two seeds)
    untrained     a trained model should be nearer the trained models than an untrained copy of any
                  architecture: AUC (one untrained copy per architecture is created and scored; SAT attacks it)
    reliability   the measure on two halves of the evaluation images: Spearman rho of the two matrices
    layer-order   inside each model, minibatch CKA with the first stage should fall with depth (cka's row)

Writes DIR/scorecard.csv (measure, test, value, 95% interval, n, best, verdict, note), DIR/scorecard_seeds.csv
(the seed test per architecture) and the pools' matrices in DIR/scorecard/; a rerun reads them back. The
untrained copies and half-splits are made here: nothing extra is trained.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analysis.scorecard.pools import SAT_MEASURES, pool_matrices
from analysis.scorecard.reliability import check_splittable
from analysis.scorecard.stage import TEST_NAMES, run_scorecard
from archsim.cli.args import add_run_arguments, run_config
from archsim.cli.demo import DEFAULT_MEASURES
from archsim.errors import ArchsimError
from archsim.options import name_list
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.similarity.registry import measure_names, measure_options
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run, split_indices
from archsim.zoo.data import describe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scorecard", help="known-answer tests for every measure on the run's own models",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--measures", default=",".join(DEFAULT_MEASURES),
                   help="comma-separated measures besides sat and sat-adjusted (default: the demo's; empty: none)")
    p.add_argument("--tests", default=",".join(TEST_NAMES), help=f"comma-separated tests (default: all, "
                                                                  f"{','.join(TEST_NAMES)})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    metrics = [m for m in (measure_names(args.measures) if args.measures.strip() else []) if m not in SAT_MEASURES]
    options = {m: measure_options(cfg, m) for m in metrics}  # unknown names and options fail before training
    tests = check_tests(args.tests)
    if "reliability" in tests:  # before any training
        check_splittable(len(split_indices(describe(cfg.data), cfg.data)[1]))
    out, progress = Path(args.out), not args.no_progress
    seconds, t = {}, time.perf_counter()
    run_ = build_run(cfg, progress=progress)
    seconds["zoo"], t = time.perf_counter() - t, time.perf_counter()
    sat, units = sat_in_store(out, cfg, run_, progress=progress)
    sat.write(out)
    seconds["SAT"], t = time.perf_counter() - t, time.perf_counter()
    measures, notes = pool_matrices(out, cfg, run_, metrics, options, progress)
    seconds["measures"] = time.perf_counter() - t
    card = run_scorecard(out, cfg, run_, sat, measures, options, tests=tests, progress=progress)
    print(f"\nscorecard of {len(card.measures)} measures on {len(sat.names)} models, {len(run_.images)} images "
          f"(SAT: {units.summary()}), {time.perf_counter() - start:.1f} s")
    for line in card.answers():
        print(line)
    print()
    print(format_table(["measure", *card.tests], [[m, *(card.cell(m, t) for t in card.tests)] for m in card.measures]))
    for note in notes + card.notes:
        print(f"note: {note}")
    seconds.update(card.seconds or {"scorecard (read back)": time.perf_counter() - start - sum(seconds.values())})
    print(format_table(["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in seconds.items()]))
    print(f"wrote {out / 'scorecard.csv'}, {out / 'scorecard_seeds.csv'}")
    return 0


def check_tests(text: str) -> list[str]:
    """The test names of a comma-separated string, each one of TEST_NAMES."""
    tests = name_list(text, "--tests", "test names")
    unknown = [t for t in tests if t not in TEST_NAMES]
    if unknown or not tests:
        problem = f"unknown test {unknown[0]!r}" if unknown else "no test given"
        raise ArchsimError(f"--tests: {problem}; choose from {', '.join(TEST_NAMES)}")
    return tests
