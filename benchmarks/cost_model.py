"""The cost model at real sizes: forward FLOPs of real timm pools, then FLOPs and time of SAT runs.

    python benchmarks/cost_model.py [--config configs/imagenet69.yaml]
        [--timm-sample 150] [--images 5000] [--steps 10] [--rate 100e12] [--gpus 1 8 64]

Every model is built on torch's meta device (no weights, no memory, no arithmetic) and its forward pass at its
native input size (timm's pretrained config) counted by torch.utils.flop_counter. For the pool of `--config`
(default: the SAT paper's 69 ImageNet models) that gives each model's f_i; for the whole pretrained timm zoo
(`timm.list_models(pretrained=True)`, one entry per architecture) the mean f of `--timm-sample` architectures
drawn at random (seed 0) stands for the rest. The run costs come from `archsim.sat.cost` (attacks n (1 + 2 steps)
f_s, evaluations n f_t, noise n f_s), the times at the sustained rate `--rate` FLOP/s per GPU, an assumption
that the caller states (no GPU was measured here), divided over k GPUs; the budgeted rows run every attack and
`--budget` of the N^2 evaluations (`archsim sat --pairs`) at the pool's mean forward cost (the units are independent once the
attacks are done: Ray spreads them; k is capped by nothing in the formula, so read large k as an ideal).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import timm
import torch
import yaml
from timm.models import split_model_name_tag
from torch.utils.flop_counter import FlopCounterMode

from archsim.sat.cost import added_model_cost, budgeted_run_cost, format_seconds, run_cost
from archsim.sat.pair_choice import budget_evaluations, pairs_in_budget

ROOT = Path(__file__).resolve().parent.parent


def meta_flops(name: str, kwargs: dict | None = None) -> float:
    """Forward FLOPs of timm `name` on one image at its native input size, counted on the meta device."""
    with torch.device("meta"):
        model = timm.create_model(split_model_name_tag(name)[0], pretrained=False, **(kwargs or {}))
        size = timm.data.resolve_data_config({}, model=model)["input_size"]
        x = torch.empty(1, *size)
        counter = FlopCounterMode(display=False)
        model.eval().requires_grad_(False)  # (the flop counter's module tracker trips over parameter gradients)
        with torch.no_grad(), counter:
            model(x)
    return float(counter.get_total_flops())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "imagenet69.yaml"))
    p.add_argument("--timm-sample", type=int, default=150)
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rate", type=float, default=100e12, help="sustained FLOP/s of one GPU (an assumption)")
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--budget", type=float, default=0.4, help="the --pairs budget of the budgeted rows (default 0.4)")
    args = p.parse_args()
    start = time.perf_counter()
    pool = yaml.safe_load(Path(args.config).read_text())["models"]
    flops = [meta_flops(m["name"], m.get("kwargs")) for m in pool]
    archs = sorted({split_model_name_tag(n)[0] for n in timm.list_models(pretrained=True)})
    sample = random.Random(0).sample(archs, min(args.timm_sample, len(archs)))
    sampled = []
    for name in sample:
        try:
            sampled.append(meta_flops(name))
        except Exception as e:  # a few architectures do not build or run on the meta device
            print(f"skipped {name}: {type(e).__name__}")
    mean = statistics.fmean(sampled)
    print(f"{len(pool)} models of {Path(args.config).name}: forward {min(flops) / 1e9:.2f} to {max(flops) / 1e9:.1f} "
          f"GFLOP per image, mean {statistics.fmean(flops) / 1e9:.2f}, median {statistics.median(flops) / 1e9:.2f}")
    print(f"timm: {len(archs)} pretrained architectures; {len(sampled)} drawn: {min(sampled) / 1e9:.2f} to "
          f"{max(sampled) / 1e9:.0f} GFLOP, mean {mean / 1e9:.1f}, median {statistics.median(sampled) / 1e9:.2f} "
          f"(the run cost takes the mean; counted in {time.perf_counter() - start:.0f} s)")
    print(f"n = {args.images} images, PGD {args.steps} steps, rate {args.rate / 1e12:g} TFLOP/s per GPU (assumed)")
    def budgeted(f):  # the --pairs budget's evaluations (archsim.sat.pair_choice)
        n = len(f)
        evaluations = n + 2 * pairs_in_budget(n, budget_evaluations(n * n, args.budget))
        return budgeted_run_cost(f, args.images, args.steps, evaluations)

    zoo = [mean] * len(archs)
    rows = [(f"{len(pool)}-model pool", run_cost(flops, args.images, args.steps)),
            (f"  --pairs {args.budget:g}", budgeted(flops)),
            (f"+1 model (mean f) to the {len(pool)}",
             added_model_cost(statistics.fmean(flops), flops, args.images, args.steps)),
            ("300 timm models (mean f)", run_cost([mean] * 300, args.images, args.steps)),
            (f"  --pairs {args.budget:g}", budgeted([mean] * 300)),
            (f"timm zoo, {len(archs)} models", run_cost(zoo, args.images, args.steps)),
            (f"  --pairs {args.budget:g}", budgeted(zoo)),
            (f"+1 model to the {len(archs)}", added_model_cost(mean, zoo, args.images, args.steps))]
    print(f"{'run':34} {'units':>9} {'PFLOP':>9} {'attack':>7} {'eval':>6} "
          + " ".join(f"{f'{k} GPU':>10}" for k in args.gpus))
    for what, c in rows:
        share = {k: 100 * v / c.total_flops for k, v in c.flops.items()}
        times = " ".join(f"{format_seconds(c.total_flops / (args.rate * k)):>10}" for k in args.gpus)
        print(f"{what:34} {sum(c.units.values()):>9} {c.total_flops / 1e15:>9.1f} {share['attack']:>6.0f}% "
              f"{share['evaluation']:>5.0f}% {times}")


if __name__ == "__main__":
    main()
