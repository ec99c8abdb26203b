"""`archsim pair A B --data DIR`: the SAT of one pair, with its interval, both directions and the controls.

A and B are models as `--models` names them (a timm name, NAME=CHECKPOINT,
LABEL=NAME=CHECKPOINT, package.module:callable; `archsim.zoo.model_entries`) or
labels of the models of --config, whose other models then give the context.
It prints the pair's SAT with its 95% bootstrap interval over |X_AB| (the images
both classify correctly), both directional transfer rates in percent, each
model's clean accuracy, white-box success and noise error, and one line on how
to read the value (`archsim.sat.pair`). The attacks and evaluations go through a
run store in --out (then also written there as by `archsim sat`), else in a
temporary folder that is deleted afterwards.

With --target-width W the pair's images are evaluated in rounds of
--round-images R (default 100), taken in a seeded random order, and the rounds
stop once the pair's SAT interval is at most W wide (high - low, log scale), or
when every image is used (`archsim.sat.adaptive`: the rule, and the simulations
showing that the interval keeps its 95% coverage under it). Each round is its
own image set in the run store, so no image is attacked twice; the answer is
over the images used, and a line beside it says how many and why it stopped.

    archsim pair s0=resnet18=seed0.safetensors s1=resnet18=seed1.safetensors --data digits --n 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np

from archsim.cli.args import add_run_arguments, run_config
from archsim.config import read_config_file
from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat.adaptive import DEFAULT_ROUND_IMAGES, AdaptiveOutcome, adaptive_pair, check_adaptive
from archsim.sat.pair import pair_summary
from archsim.sat.result import SATResult
from archsim.store import RunReport
from archsim.zoo.assemble import assemble
from archsim.zoo.build import Run, build_run
from archsim.zoo.model_entries import parse_entry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pair", help="SAT of one pair of models, with its interval, both directions and controls",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="a model (timm name, NAME=CHECKPOINT, LABEL=NAME=CHECKPOINT, package.module:callable) "
                             "or a label of --config")
    p.add_argument("b", help="the other model, named the same ways")
    add_run_arguments(p, out_required=False, models=False,
                      out_help="run directory to keep the store and the CSVs in (default: a temporary folder)")
    p.add_argument("--target-width", type=float, metavar="W",
                   help="evaluate the images in rounds and stop once the pair's SAT interval is at most W wide "
                        "(high - low, log scale; e.g. 0.5)")
    p.add_argument("--round-images", type=int, metavar="R",
                   help=f"images per round with --target-width (default {DEFAULT_ROUND_IMAGES})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    known = _config_labels(args.config, args.data)
    entries = [x for x in (args.a, args.b) if x not in known]
    labels = [x if x in known else parse_entry(x)["label"] for x in (args.a, args.b)]
    cfg = run_config(args, models=",".join(entries) if entries else None)
    progress = not args.no_progress
    adaptive = args.target_width is not None
    if not adaptive and args.round_images is not None:
        raise ArchsimError("--round-images sets the rounds of --target-width; give --target-width too")
    if adaptive:  # the width and the round size on their own, before any model is built
        rounds = 1 if args.round_images is None else args.round_images
        check_adaptive(args.target_width, rounds, rounds)
    with tempfile.TemporaryDirectory(prefix="archsim-pair-") as scratch:
        out = args.out or scratch
        run_ = build_run(cfg, progress=progress, place=False)
        if adaptive:  # the default round size is capped at the images; a round size the user gave is not
            round_images = min(DEFAULT_ROUND_IMAGES, len(run_.images)) if args.round_images is None \
                else args.round_images
            check_adaptive(args.target_width, round_images, len(run_.images))
            result, report, outcome = _adaptive_run(out, cfg, run_, labels, args.target_width, round_images, progress)
        else:
            result, report = sat_in_store(out, cfg, run_, progress=progress)
        summary = pair_summary(result, *labels)
        if adaptive:  # the interval the rule stopped on (the same bootstrap, drawn for this pair alone)
            summary.low, summary.high = outcome.low, outcome.high
        written = result.write(args.out) if args.out else {}
    lines = summary.lines()
    if adaptive:
        lines.insert(1, outcome.line())
    print("\n".join(lines))
    for line in result.sanity_warnings(run_.images.num_classes) + result.fragility_warnings(cfg.noise_warning):
        print(f"warning: {line}", file=sys.stderr)
    images = f"{outcome.images_used} of {len(run_.images)}" if adaptive else f"{len(run_.images)}"
    print(f"\n{len(result.names)} models, {images} images; {report.summary()}")
    if written:
        print(f"wrote {', '.join(str(p) for p in written.values())}")
    return 0


def _adaptive_run(out, cfg, run_: Run, labels: list[str], target_width: float, round_images: int,
                  progress: bool) -> tuple[SATResult, RunReport, AdaptiveOutcome]:
    """The pair evaluated round by round (`archsim.sat.adaptive.adaptive_pair`): each round's images are their own
    image set in the store at `out`; the result of every round's images together, the rounds' report, the outcome."""
    parts, report = [], RunReport()

    def evaluate_round(indices: np.ndarray) -> np.ndarray:
        part, ran = sat_in_store(out, cfg, Run(run_.models, run_.images.subset(indices.tolist())), progress=progress)
        parts.append(part)
        report.ran.update(ran.ran)
        report.reused += ran.reused
        report.recomputed += ran.recomputed
        return np.bincount(part.per_image_errors(part.names.index(labels[0]), part.names.index(labels[1])),
                           minlength=3)

    outcome = adaptive_pair(evaluate_round, len(run_.images), target_width=target_width, round_images=round_images,
                            eps_s=cfg.eps_s, seed=cfg.seed)
    first = parts[0]
    noise = None if first.noise_correct is None else np.concatenate([p.noise_correct for p in parts], axis=-1)
    ids = None if first.image_ids is None else [i for p in parts for i in p.image_ids]
    result = SATResult(first.names, np.concatenate([p.clean_correct for p in parts], axis=-1),
                       np.concatenate([p.adv_correct for p in parts], axis=-1), first.eps_s, ids, noise)
    return result, report, outcome


def _config_labels(config, data) -> list[str]:
    """The labels of --config's models; none without a config, or for a config that holds no models (only
    `model_defaults`, data or the attack for the pair named on the command line)."""
    if config is None:
        return []
    raw = read_config_file(config)
    if not isinstance(raw, dict) or not raw.get("models"):
        return []
    return [m.label for m in assemble(config, None, data).cfg.models]
