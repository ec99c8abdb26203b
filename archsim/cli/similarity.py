"""`archsim similarity --measure NAME --config FILE --out DIR`: one model x model similarity matrix.

Builds the config's models and images exactly as `archsim sat` does (same
training cache, same evaluation images), computes the measure and writes
DIR/<NAME>.csv in the format of sat.csv, plus DIR/<NAME>_detail.csv when the
measure has a per-layer table. Options come from the config's
`similarity: {NAME: {...}}` block, overridden by `--set key=value` (the value
read as YAML, e.g. `--set layer=blocks.1 --set debiased=true`). `sat` runs
through the run store in DIR, as `archsim sat` does.
"""

from __future__ import annotations

import argparse
import time

from archsim.cli.args import add_run_arguments, parse_settings, run_config
from archsim.matrices import mean_to_others, write_measure
from archsim.similarity.compute import compute_measure
from archsim.similarity.registry import MEASURES, measure_options
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similarity", help="a model x model similarity matrix (CKA, CCA, atoms, ...)",
                       description=__doc__)
    p.add_argument("--measure", required=True, choices=sorted(MEASURES), help="the measure")
    add_run_arguments(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a measure option")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    options = measure_options(cfg, args.measure, parse_settings(args.set))  # a misspelt option fails before training
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    result = compute_measure(args.measure, options, cfg, run_, args.out, progress)
    written = write_measure(args.out, args.measure, result)
    for note in result.notes:
        print(f"note: {note}")
    print(f"\n{args.measure}: {len(result.names)} models, {time.perf_counter() - start:.1f} s")
    means = [mean_to_others(result.values, i) for i in range(len(result.names))]
    print(format_table(["model", "mean to others"],
                       [[n, "n/a" if m is None else f"{m:.4f}"] for n, m in zip(result.names, means)]))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
