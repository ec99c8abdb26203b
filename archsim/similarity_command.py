"""`archsim similarity --metric NAME --config FILE --out DIR`: one model x model similarity matrix.

Builds the config's models and images exactly as `archsim sat` does (same
training cache, same evaluation images), computes the measure and writes
DIR/<NAME>.csv in the format of sat.csv, plus DIR/<NAME>_detail.csv when the
measure has a per-layer table. Options come from the config's
`similarity: {NAME: {...}}` block, overridden by `--set key=value` (the value
read as YAML, e.g. `--set layer=blocks.1 --set debiased=true`).
"""

from __future__ import annotations

import argparse
import time

import yaml

from archsim.build import build_run
from archsim.command_args import add_run_arguments, run_config
from archsim.errors import ArchsimError
from archsim.files import write_rows
from archsim.matrices import mean_to_others
from archsim.matrix_csv import write_matrix
from archsim.similarity.registry import MEASURES, OPTIONS
from archsim.similarity.result import check_options
from archsim.terminal_table import format_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similarity", help="a model x model similarity matrix (CKA, CCA, atoms, ...)",
                       description=__doc__)
    p.add_argument("--metric", required=True, choices=sorted(MEASURES), help="the measure")
    add_run_arguments(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a measure option")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    options = measure_options(cfg, args.metric, parse_settings(args.set))  # a misspelt option fails before training
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    result = MEASURES[args.metric](run_, options, seed=cfg.seed, progress=progress)
    written = write_measure(args.out, args.metric, result)
    for note in result.notes:
        print(f"note: {note}")
    _print_summary(args.metric, result, time.perf_counter() - start)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def measure_options(cfg, metric: str, settings: dict | None = None) -> dict:
    """The config's `similarity: {metric: {...}}` block updated with `settings`; unknown keys raise ArchsimError."""
    if metric not in MEASURES:
        raise ArchsimError(f"unknown similarity measure {metric!r}; choose from {', '.join(sorted(MEASURES))}")
    options = {**(cfg.similarity.get(metric) or {}), **(settings or {})}
    check_options(options, OPTIONS[metric], metric)
    return options


def write_measure(out_dir, metric: str, result) -> list:
    """DIR/<metric>.csv (sat.csv format) and, when the measure has one, DIR/<metric>_detail.csv."""
    written = [write_matrix(f"{out_dir}/{metric}.csv", result.names, result.values)]
    if result.detail_rows:
        written.append(write_rows(f"{out_dir}/{metric}_detail.csv", result.detail_header, result.detail_rows))
    return written


def parse_settings(pairs: list[str]) -> dict:
    """['a=1', 'b=x'] -> {'a': 1, 'b': 'x'}; each value read as YAML."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ArchsimError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def _print_summary(metric: str, result, seconds: float) -> None:
    print(f"\n{metric}: {len(result.names)} models, {seconds:.1f} s")
    means = [mean_to_others(result.values, i) for i in range(len(result.names))]
    print(format_table(["model", "mean to others"],
                       [[n, "n/a" if m is None else f"{m:.4f}"] for n, m in zip(result.names, means)]))
