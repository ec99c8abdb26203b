"""`archsim sat --config FILE --out DIR`: SAT between all models of a config.

Writes DIR/sat.csv (the SAT paper's release format), DIR/transfer.csv,
DIR/pairs.csv and DIR/clean_accuracy.csv, and prints a short summary.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from archsim.build import build_run
from archsim.config import load_config
from archsim.sat import sat_matrix


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sat", help="SAT matrix: PGD per model, evaluated across all models",
                       description=__doc__)
    p.add_argument("--config", required=True, help="YAML run config (see archsim.config)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", help="override the config's device (cpu, cuda, auto)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = load_config(args.config)
    if args.device:
        cfg.device = args.device
    progress = not args.no_progress
    run_ = build_run(cfg, progress=progress)
    result = sat_matrix(run_.models, run_.images.images, run_.images.labels, seed=cfg.seed, eps_s=cfg.eps_s,
                        batch_size=cfg.batch_size, attack=cfg.attack, device=cfg.torch_device(),
                        image_ids=run_.images.ids, progress=progress)
    paths = result.write(args.out)
    _print_summary(result, time.perf_counter() - start)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _print_summary(result, seconds: float) -> None:
    names, sat = result.names, result.sat
    width = max(len(n) for n in names)
    print(f"\n{len(names)} models, {result.clean_correct.shape[1]} images, {seconds:.1f} s")
    print(f"{'model':<{width}}  clean acc  white-box  mean SAT to others")
    for i, name in enumerate(names):
        others = np.delete(sat[i], i)
        mean_other = f"{others.mean():.3f}" if len(others) else "-"
        print(f"{name:<{width}}  {result.clean_accuracy[i]:9.3f}  {result.transfer[i, i]:9.3f}  {mean_other:>18}")
