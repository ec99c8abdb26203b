"""Does choosing by SAT (or any measure) help on this zoo? The decisions rerun on many random sub-pools.

The honest answer to "does choosing by SAT help?", with more power than one pool: over DRAWS random sub-pools
of POOL of the zoo's models, the members are chosen on the validation images as `archsim ensemble` chooses
them (greedy and cluster per measure, and the rule that picks among them and top-k on validation), then scored
on the test images against top-k, random k-subsets and the best single model (`analysis.decisions.subpools`);
the same for the distillation teachers over every subset of two or more teachers, when the run's students are
trained (cached). Everything is read from, or computed into, the run folder of `archsim demo` (weights,
validation similarities and students are cached there or in the weights cache), so after the demo this takes
seconds.

    python benchmarks/decisions.py [--config configs/demo.yaml] [--out runs/demo] [--pool 8] [--k 3]
                                   [--draws 200] [--measures sat,cka,...]

Prints one table per target: per method and baseline, the mean difference in test accuracy (points), its 95%
interval and the share of sub-pools above 0; writes OUT/predictions/subpools_benchmark.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analysis.decisions.ensemble_eval import member_accuracies
from analysis.decisions.stages import oriented_matrices, student_similarity
from analysis.decisions.subpools import HEADER, ensemble_subpools, teacher_subpools
from archsim.cli.demo import DEFAULT_MEASURES, default_config_path
from archsim.config import load_config
from archsim.files import write_rows
from archsim.similarity.compute import cached_decision_similarities
from archsim.similarity.registry import measure_names, measure_options
from archsim.terminal_table import format_table
from archsim.zoo.build import build_run
from archsim.zoo.predictions import predict_run
from archsim.zoo.students import train_students


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(default_config_path()))
    p.add_argument("--out", default="runs/demo", help="the demo's run folder (its store and validation matrices)")
    p.add_argument("--pool", type=int, default=8)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--measures", default=",".join(("sat", *DEFAULT_MEASURES)))
    args = p.parse_args()
    start = time.perf_counter()
    cfg = load_config(args.config)
    measures = measure_names(args.measures)
    options = {m: measure_options(cfg, m) for m in measures}
    run_ = build_run(cfg, progress=False)
    predictions = predict_run(cfg, run_, progress=False)
    sims, notes = cached_decision_similarities(args.out, cfg, run_, measures, options, progress=False)
    for note in notes:
        print(f"note: {note}")
    names = predictions.names
    validation, test = predictions.for_applications()
    val_labels, test_labels = run_.validation.labels.numpy(), run_.images.labels.numpy()
    rows = ensemble_subpools(names, validation, val_labels, test, test_labels, oriented_matrices(names, sims, options),
                             pool=args.pool, k=args.k, draws=args.draws, seed=cfg.seed)
    settings = cfg.distill
    if settings.student and settings.teachers:
        runs = train_students(cfg, run_, settings.student, settings.teachers, settings, progress=False)
        acc = dict(zip(names, member_accuracies(validation, val_labels)))
        rows += teacher_subpools(settings.teachers, {t: acc[t] for t in settings.teachers},
                                 student_similarity(settings.student, settings.teachers, sims, options), runs)
    print(f"{len(names)} models; ensembles: {args.draws} sub-pools of {args.pool}, k = {args.k}; teachers: every "
          f"subset of two or more of {len(settings.teachers or [])}; {time.perf_counter() - start:.0f} s")
    for target in ("ensemble", "teacher"):
        chosen = [r for r in rows if r.target == target]
        if chosen:
            print(f"\n{target}: mean difference in test accuracy (points) [95% interval], share of sub-pools > 0")
            print(format_table(["method", "baseline", "sub-pools", "mean", "interval", "> 0"],
                               [[r.method, r.baseline, r.subpools, f"{100 * r.mean:+.2f}",
                                 f"[{100 * r.low:+.2f}, {100 * r.high:+.2f}]", f"{100 * r.share_above:.0f}%"]
                                for r in chosen], "<<>>>>"))
    path = write_rows(Path(args.out) / "predictions" / "subpools_benchmark.csv", HEADER, [r.values() for r in rows])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
