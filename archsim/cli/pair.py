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

    archsim pair s0=resnet18=seed0.safetensors s1=resnet18=seed1.safetensors --data digits --n 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from archsim.cli.args import add_run_arguments, run_config
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat.pair import pair_summary
from archsim.config import read_config_file
from archsim.zoo.assemble import assemble
from archsim.zoo.build import build_run
from archsim.zoo.model_entries import parse_entry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pair", help="SAT of one pair of models, with its interval, both directions and controls",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="a model (timm name, NAME=CHECKPOINT, LABEL=NAME=CHECKPOINT, package.module:callable) "
                             "or a label of --config")
    p.add_argument("b", help="the other model, named the same ways")
    add_run_arguments(p, out_required=False, models=False,
                      out_help="run directory to keep the store and the CSVs in (default: a temporary folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    known = _config_labels(args.config, args.data)
    entries = [x for x in (args.a, args.b) if x not in known]
    labels = [x if x in known else parse_entry(x)["label"] for x in (args.a, args.b)]
    cfg = run_config(args, models=",".join(entries) if entries else None)
    progress = not args.no_progress
    with tempfile.TemporaryDirectory(prefix="archsim-pair-") as scratch:
        out = args.out or scratch
        run_ = build_run(cfg, progress=progress, place=False)
        result, report = sat_in_store(out, cfg, run_, progress=progress)
        summary = pair_summary(result, *labels)
        written = result.write(args.out) if args.out else {}
    print("\n".join(summary.lines()))
    for line in result.sanity_warnings(run_.images.num_classes) + result.fragility_warnings(cfg.noise_warning):
        print(f"warning: {line}", file=sys.stderr)
    print(f"\n{len(result.names)} models, {len(run_.images)} images; {report.summary()}")
    if written:
        print(f"wrote {', '.join(str(p) for p in written.values())}")
    return 0


def _config_labels(config, data) -> list[str]:
    """The labels of --config's models; none without a config, or for a config that holds no models (only
    `model_defaults`, data or the attack for the pair named on the command line)."""
    if config is None:
        return []
    raw = read_config_file(config)
    if not isinstance(raw, dict) or not raw.get("models"):
        return []
    return [m.label for m in assemble(config, None, data).cfg.models]
