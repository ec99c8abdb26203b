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

from archsim.cli.args import add_model_arguments, run_config
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run
from archsim.zoo.predictions import predict_run
from archsim.zoo.zoo_table import ZooRow, write_zoo_csv, zoo_rows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="train or load the models of a config and report their accuracy",
                       description=__doc__)
    actions = p.add_subparsers(dest="action", required=True)
    t = actions.add_parser("train", help="train (or load) every model; report params, time and accuracy",
                           description=__doc__)
    add_model_arguments(t)
    t.add_argument("--out", help="also write DIR/zoo.csv")
    t.add_argument("--device", help="override the config's device (cpu, cuda, auto)")
    t.add_argument("--no-progress", action="store_true", help="hide every progress bar")
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


def print_zoo_table(rows: list[ZooRow], seconds: float, n_test: int, n_val: int) -> None:
    print(f"\n{len(rows)} models, {n_test} test images, {n_val} validation images, {seconds:.1f} s")
    print(format_table(["model", "params", "weights", "val acc", "test acc"],
                       [[r.model, f"{r.params / 1e6:.2f}M",
                         f"{r.train_seconds:.1f} s" if r.weights == "trained" else r.weights,
                         "-" if r.val_accuracy is None else f"{r.val_accuracy:.3f}", f"{r.test_accuracy:.3f}"]
                        for r in rows]))
    tests = np.array([r.test_accuracy for r in rows])
    print(f"test accuracy: min {tests.min():.3f} ({rows[int(tests.argmin())].model}), mean {tests.mean():.3f}")
