"""Choose the demo's distillation setting on the VALIDATION images only: where does knowledge distillation help?

For each setting (labelled training images per class, student epochs; the config's temperature and alpha unless
given) it trains the config's student from each teacher and from the labels only, for the config's seeds
(`archsim.zoo.students`; cached, so a rerun only evaluates), and prints on the validation images (shifted under
the config's `shift:`, as the distillation stage scores them): the labels-only students' mean accuracy, each
teacher's students' mean and its gain over labels-only with the Student-t 95% interval over the seeds. The
setting is chosen where some teacher's gain is clearly above 0 on validation; the test images are not looked at.

    python benchmarks/tune_distill.py [--config configs/demo.yaml] [--labels none,5,10,20] [--epochs 1,2]
                                      [--temperature 4] [--alpha 0.9] [--test]

--test prints the same figures on the test images once a setting is chosen (report only).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from analysis.decisions.intervals import seed_difference
from archsim.cli.demo import default_config_path
from archsim.config import load_config
from archsim.zoo.build import build_run
from archsim.zoo.students import train_students


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(default_config_path()))
    p.add_argument("--labels", default="none,5,10,20", help="labelled images per class; none: every label")
    p.add_argument("--epochs", default="1,2")
    p.add_argument("--temperature", type=float)
    p.add_argument("--alpha", type=float)
    p.add_argument("--test", action="store_true", help="the test images instead (after choosing)")
    args = p.parse_args()
    cfg = load_config(args.config)
    run_ = build_run(cfg, progress=False)
    split = "test_accuracy" if args.test else "validation_accuracy"
    base = cfg.distill
    print(f"student {base.student}, teachers {', '.join(base.teachers)}, {base.seeds} seeds; "
          f"{'test' if args.test else 'validation'} images")
    for labels in args.labels.split(","):
        for epochs in [int(e) for e in args.epochs.split(",")]:
            settings = dataclasses.replace(
                base, labels_per_class=None if labels == "none" else int(labels), epochs=epochs,
                temperature=args.temperature or base.temperature, alpha=args.alpha if args.alpha is not None
                else base.alpha)
            start = time.perf_counter()
            runs = train_students(cfg, run_, base.student, base.teachers, settings, progress=False)
            by = {t: [getattr(r, split) for r in sorted(runs, key=lambda r: r.seed) if r.teacher == t]
                  for t in [None, *base.teachers]}
            gains = {t: seed_difference(by[t], by[None]) for t in base.teachers}
            best = max(base.teachers, key=lambda t: gains[t].estimate)
            print(f"labels/class {labels:>4}, epochs {epochs}, T {settings.temperature:g}, alpha {settings.alpha:g}: "
                  f"labels only {np.mean(by[None]):.3f}; " + "; ".join(
                      f"{t} {np.mean(by[t]):.3f} ({gains[t].points()})" for t in base.teachers)
                  + f"; best {best} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
