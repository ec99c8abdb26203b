"""`archsim zoo train --config FILE [--out DIR]`: train (or load from the cache) every model of a config and report it.

For each model: its timm name, parameter count, where its weights came from
(trained in this call, with the time it took; the weights cache; a checkpoint;
pretrained; or random initialisation), and accuracy on the
validation images (`data.validation`, when the config has them) and on the
evaluation (test) images (`data.subset`), which training never sees. With
--out, the table is also written as DIR/zoo.csv.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from archsim.build import Run, build_run
from archsim.command_args import run_config
from archsim.config import RunConfig
from archsim.files import write_rows
from archsim.predictions import Predictions, predict_run
from archsim.terminal_table import format_table

HEADER = ["model", "timm_name", "params", "weights", "train_seconds", "val_accuracy", "test_accuracy"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="train or load the models of a config and report their accuracy",
                       description=__doc__)
    actions = p.add_subparsers(dest="action", required=True)
    t = actions.add_parser("train", help="train (or load) every model; report params, time and accuracy",
                           description=__doc__)
    t.add_argument("--config", required=True, help="YAML run config (see archsim.config)")
    t.add_argument("--out", help="also write DIR/zoo.csv")
    t.add_argument("--device", help="override the config's device (cpu, cuda, auto)")
    t.add_argument("--no-progress", action="store_true", help="hide progress bars")
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    run_ = build_run(cfg, progress=not args.no_progress)
    rows = zoo_rows(cfg, run_, predict_run(cfg, run_, progress=not args.no_progress))
    print_zoo_table(rows, time.perf_counter() - start, len(run_.images),
                    0 if run_.validation is None else len(run_.validation))
    if args.out:
        print(f"wrote {write_zoo_csv(args.out, rows)}")
    return 0


def zoo_rows(cfg: RunConfig, run_: Run, predictions: Predictions) -> list[list]:
    """One row per model of `cfg`, in the columns of `HEADER` (None where a value does not apply)."""
    rows = []
    for spec in cfg.models:
        model = run_.models[spec.label]
        rows.append([spec.label, spec.name, sum(p.numel() for p in model.model.parameters()),
                     _weights_source(spec, cfg, run_.train_seconds), run_.train_seconds.get(spec.label),
                     predictions.accuracy(spec.label, run_.validation, "validation"),
                     predictions.accuracy(spec.label, run_.images, "test")])
    return rows


def write_zoo_csv(out_dir, rows: list[list]):
    """DIR/zoo.csv with the `HEADER` columns; empty cells for None."""
    return write_rows(f"{out_dir}/zoo.csv", HEADER, [["" if v is None else v for v in r] for r in rows])


def _weights_source(spec, cfg, trained: dict) -> str:
    if spec.pretrained:
        return "pretrained"
    if spec.checkpoint is not None:
        return "checkpoint"
    if cfg.train_settings(spec) is None:
        return "random init"
    return "trained" if spec.label in trained else "cache"


def print_zoo_table(rows: list[list], seconds: float, n_test: int, n_val: int) -> None:
    print(f"\n{len(rows)} models, {n_test} test images, {n_val} validation images, {seconds:.1f} s")
    print(format_table(["model", "params", "weights", "val acc", "test acc"],
                       [[label, f"{params / 1e6:.2f}M", f"{train_s:.1f} s" if source == "trained" else source,
                         "-" if val is None else f"{val:.3f}", f"{test:.3f}"]
                        for label, _, params, source, train_s, val, test in rows]))
    tests = np.array([r[-1] for r in rows])
    print(f"test accuracy: min {tests.min():.3f} ({rows[int(tests.argmin())][0]}), mean {tests.mean():.3f}")
