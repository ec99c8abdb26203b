"""`archsim sat --config FILE --out DIR`: SAT between all models of a config, cached in a run store.

DIR is a run directory (`archsim.store`): DIR/store.sqlite and DIR/tensors/
keep every attack and evaluation by content, so a rerun computes only what
the store lacks (adding model N+1 to N: 1 attack, 2N+1 evaluations) and a
killed run resumes where it stopped. From the stored outcomes of the config's
models, images and attack it writes DIR/sat.csv (the SAT paper's release
format), DIR/transfer.csv, DIR/pairs.csv and DIR/clean_accuracy.csv, and
prints a summary with the units run and reused.

`--executor ray` runs the units as Ray tasks (`pip install 'archsim[ray]'`);
DIR must then be on a path that every Ray node sees. `--precision bf16`
(or fp16) runs attacks and evaluations under autocast, a separate set of
results in the store; `--channels-last` changes the memory layout.

`--pairs B` runs every attack and only a budget of the evaluations, and
completes the other pairs (`archsim.pipeline.budgeted_sat`); `--pilot F`
spends part of that budget on every pair on a share F of the images first.

`--dry-run` trains, attacks and evaluates nothing and writes nothing: it
prints the models still to train, the units to run and to reuse, their FLOPs
and the estimated time on this device (`archsim.sat.cost`).

Every run also writes DIR/config.yaml, its config with the command-line models
in it, so that `archsim sat --out DIR --add mine=resnet18=ckpt.safetensors`
adds a model by naming only it (`archsim.pipeline.add_models`): it prints the
cost before it runs (1 attack and 2N+1 evaluations, and the new model's noise
control), then the new model's row, its nearest models first with their 95%
intervals.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.matrix.clustering import cluster_models
from analysis.matrix.load import validate_similarity
from analysis.matrix.plots import plot_clustered_heatmap
from archsim.cli.args import add_precision_arguments, add_run_arguments, assembled_config
from archsim.errors import ArchsimError
from archsim.matrices import mean_to_others
from archsim.pipeline.add_models import check_new_labels, plan_addition, run_directory_config, write_run_config
from archsim.pipeline.budgeted_sat import budgeted_sat_in_store
from archsim.pipeline.dry_run import dry_run
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat import pair_choice
from archsim.sat.censoring import as_least_measured, censored_note
from archsim.sat.effects import effects_or_reason
from archsim.sat.pair import nearest_models
from archsim.sat.pilot import PILOT_NOT_WITH_ADD, check_share, pilot_evaluations
from archsim.store import RayExecutor, RunStore
from archsim.terminal_table import format_table
from archsim.zoo.assemble import assemble
from archsim.zoo.build import build_run
from archsim.zoo.model_entries import parse_models


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sat", help="SAT matrix: PGD per model, evaluated across all models",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, out_help="run directory: the store and the output CSVs",
                      device_help="override the config's device (cpu, cuda, auto); local executor")
    add_precision_arguments(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be trained, run and reused, and the estimated time; do nothing")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="run units in this process (local) or as Ray tasks (ray)")
    p.add_argument("--ray-address", help="Ray cluster to join (e.g. auto, ray://head:10001); "
                                         "default: $RAY_ADDRESS, else a local Ray instance")
    p.add_argument("--cpus-per-task", type=float, default=1, help="CPUs per Ray task (default 1)")
    p.add_argument("--gpus-per-task", type=float, default=0,
                   help="GPUs per Ray task (default 0); above 0, tasks run on CUDA")
    p.add_argument("--add", metavar="MODELS", help="add models (named as --models does) to the run in --out: "
                                                   "1 attack and 2N+1 evaluations each (or the --pairs budget)")
    p.add_argument("--pairs", metavar="BUDGET", type=float,
                   help="evaluate only a budget of the N^2 evaluations, a fraction in (0, 1] or a number above 1, "
                        "chosen as --pair-choice says, and complete the other pairs (marked predicted in pairs.csv)")
    p.add_argument("--pair-choice", choices=("active", "random"), default="active",
                   help="with --pairs, how the pairs after the first random matchings are chosen: from the "
                        "completion so far (active, default: the better clustering on the SAT paper's matrix) or at "
                        "random (the higher rank correlation there and on the demo zoo); docs/pair-budget.md")
    p.add_argument("--pilot", metavar="SHARE", type=float,
                   help="with --pairs, first evaluate every pair on this share of the images (0.2 did best on the "
                        "demo zoo; it costs N(N-1) x SHARE of the budget's evaluations) and combine each completed "
                        "pair with its pilot value (docs/pair-budget.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.add:
        return add(args)
    assembled = assembled_config(args)
    cfg = assembled.cfg
    progress = not args.no_progress
    if args.pilot is not None and args.pairs is None:
        raise ArchsimError("--pilot is part of a pair budget: give --pairs too")
    if args.pairs is not None:  # a bad budget stops the run before any work
        n = len(cfg.models)
        share = 0.0 if args.pilot is None else check_share(args.pilot)
        pair_choice.pairs_in_budget(n, pair_choice.budget_evaluations(n * n, args.pairs),
                                    pilot=pilot_evaluations(n, share))
    if args.dry_run:  # plans on an in-memory copy of the store: writes nothing
        print(dry_run(args.out, cfg, build_run(cfg, progress=False, train=False, place=False),
                      budget=args.pairs, pilot=args.pilot).summary())
        return 0
    RunStore(args.out).close()  # a damaged store stops the run before any training
    run_ = build_run(cfg, progress=progress, place=False)  # the executor places the models on the device
    if args.executor == "ray":
        def make_executor(models, images, labels):
            return RayExecutor(models, images, labels, address=args.ray_address, cpus_per_task=args.cpus_per_task,
                               gpus_per_task=args.gpus_per_task, channels_last=cfg.channels_last)
    else:
        make_executor = None
    if args.pairs is not None:
        return budgeted(args, assembled, run_, make_executor, start)
    result, report = sat_in_store(args.out, cfg, run_, progress=progress, make_executor=make_executor)
    paths = {**result.write(args.out), "config": write_run_config(args.out, assembled.raw)}
    print_sat_summary(result, time.perf_counter() - start, cfg.noise_warning)
    for line in result.sanity_warnings(run_.images.num_classes):
        print(f"warning: {line}", file=sys.stderr)
    print(report.summary())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def budgeted(args: argparse.Namespace, assembled, run_, make_executor, start: float) -> int:
    """--pairs: the budget's units through the store, the rest completed; the budget line, then the summary."""
    cfg = assembled.cfg
    done, report = budgeted_sat_in_store(args.out, cfg, run_, args.pairs, active=args.pair_choice == "active",
                                         pilot=args.pilot, progress=not args.no_progress,
                                         make_executor=make_executor)
    paths = {**done.write(args.out), "config": write_run_config(args.out, assembled.raw),
             "heatmap": completed_heatmap(done, args.out)}
    print(done.summary())
    print_sat_summary(done.result, time.perf_counter() - start, cfg.noise_warning)
    for line in done.result.sanity_warnings(run_.images.num_classes):
        print(f"warning: {line}", file=sys.stderr)
    print(report.summary())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def completed_heatmap(done, out):
    """DIR/sat_heatmap.png: the completed matrix clustered, its completed pairs hatched."""
    m = validate_similarity(done.names, as_least_measured(done.values, done.result.censored), source="SAT")
    clusters = cluster_models(m, seed=0, embed=False)
    return plot_clustered_heatmap(m.values, m.names, clusters.linkage, clusters.labels, Path(out) / "sat_heatmap.png",
                                  title="SAT = ln(100 x transfer rate), budgeted", predicted=done.predicted)


def add(args: argparse.Namespace) -> int:
    """--add: the run directory's models and the new ones, through its store; the cost first, then the new rows."""
    if args.pilot is not None:
        raise ArchsimError(PILOT_NOT_WITH_ADD)
    if args.models or args.data or args.n or args.validation or args.resolution or args.dry_run:
        raise ArchsimError("--add keeps the run's models and images: drop --models, --data, --n, --validation, "
                           "--resolution and --dry-run")
    base = run_directory_config(args.out, args.config)
    existing = [m.label for m in assemble(base).cfg.models]
    entries = parse_models(args.add)
    new = [e["label"] for e in entries]
    check_new_labels(existing, new, args.out)
    assembled = assembled_config(args, entries, config=base)
    cfg, progress = assembled.cfg, not args.no_progress
    if args.pairs is not None:  # a bad budget stops before any work
        n, k = len(cfg.models), len(new)
        pair_choice.pairs_in_budget(n, pair_choice.budget_evaluations(2 * (n - k) * k + k * k, args.pairs), added=k)
    run_ = build_run(cfg, progress=progress, place=False)
    addition = plan_addition(args.out, cfg, run_, new)
    print(addition.cost())
    if args.pairs is not None:
        done, report = budgeted_sat_in_store(args.out, cfg, run_, args.pairs, added=new,
                                             active=args.pair_choice == "active", progress=progress)
        print(done.summary())
        result = done.result
        paths = {**done.write(args.out), "config": write_run_config(args.out, assembled.raw),
                 "heatmap": completed_heatmap(done, args.out)}
    else:
        result, report = sat_in_store(args.out, cfg, run_, progress=progress)
        paths = {**result.write(args.out), "config": write_run_config(args.out, assembled.raw)}
    for label in new:
        rows = nearest_models(result, label)
        print(f"\n{label}: clean accuracy {result.clean_accuracy[result.names.index(label)]:.3f}; its nearest models "
              "(SAT with its 95% interval, both directions):")
        print(format_table(["model", "SAT", "95% interval", "|X_AB|", "new -> it", "it -> new"], rows, "<>>>>>"))
    for line in result.sanity_warnings(run_.images.num_classes) + result.fragility_warnings(cfg.noise_warning):
        print(f"warning: {line}", file=sys.stderr)
    print(report.summary())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def print_sat_summary(result, seconds: float, noise_warning: float) -> None:
    names = result.names
    noise = result.noise_error
    print(f"\n{len(names)} models, {result.clean_correct.shape[1]} images, {seconds:.1f} s")
    rows = []
    for i, name in enumerate(names):
        mean = mean_to_others(result.sat_measured, i)
        rows.append([name, f"{result.clean_accuracy[i]:.3f}", f"{result.transfer[i, i]:.3f}",
                     "-" if noise is None else f"{noise[i]:.3f}", "-" if mean is None else f"{mean:.3f}"])
    print(format_table(["model", "clean acc", "white-box", "noise error", "mean SAT to others"], rows))
    censored = censored_note(names, result.censored)
    if censored:
        print(censored)
    effects, why_not = effects_or_reason(result.sat, result.censored)
    print(why_not or f"per-model effects (SAT_ij = mu + a_i + a_j) explain {effects.r2_summary()} of the "
                     "off-diagonal SAT variance; --measure sat-adjusted is the pair term left")
    for line in result.fragility_warnings(noise_warning):
        print(f"warning: {line}", file=sys.stderr)
