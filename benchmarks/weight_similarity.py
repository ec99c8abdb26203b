"""Cost of the data-free weight measures against linear CKA on probing data, for all pairs of N models.

    python benchmarks/weight_similarity.py [--models 100] [--probe 500] [--repeat 1] [--out FILE.json]

Two pools of N randomly initialised small timm CNNs at 32 x 32 (no training: cost does
not depend on the weights):

- shared ancestor (for `atoms`): one narrow ResNet-18 and N - 1 copies with every
  weight perturbed by 5% of its tensor's standard deviation, as fine-tunes would be;
- mixed (for `grassmann`): ResNet-18 (narrow), a small VGG-11-BN, MobileNetV3-small-050,
  MobileNetV2-050 and ConvNeXt-atto in turn, each from its own seed.

Each weight measure is timed as `archsim similarity` runs it (the registered measure on
the pool, detail table included). The CKA side on the same pool: a forward pass of
`--probe` digits images (32 x 32) through every model to its pre-logit features, the
linear Gram matrix of each, and CKA between all pairs (archsim.similarity.cka). Times are
the best of `--repeat` runs, each after an untimed warm-up, for both sides alike.

FLOPs are counted analytically, for the computation the code does: SVD of an r x t matrix
(r >= t) 4 r t^2 + 22 t^3, symmetric eigendecomposition of t x t 9 t^3 (Golub and Van Loan),
products 2 x multiply-adds. The forward pass is counted by torch's FlopCounterMode
(convolutions and matrix products). A last line counts FLOPs (no timing) at the scale of
the filter-atoms paper's comparison: N fine-tunes of a ResNet-50 at 224 x 224, CKA on
10,000 probing images.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from archsim.similarity.cka import cka_matrix, gram_linear
from archsim.similarity.conv_layers import spatial_convs
from archsim.similarity.weight_measures import atoms, grassmann
from archsim.zoo.build import Run
from archsim.zoo.data import describe
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel

ARCHITECTURES = [
    ("resnet18", {"channels": (16, 32, 64, 128)}),
    ("vgg11_bn", {"model_cfg": [16, "M", 32, "M", 64, "M", 64, "M"], "mlp_ratio": 1 / 64}),
    ("mobilenetv3_small_050", {}),
    ("mobilenetv2_050", {}),
    ("convnext_atto", {}),
]
ATOMS_M, GRASSMANN_M, GRASSMANN_K = 6, 3, 3


def _model(i: int, name: str, kwargs: dict) -> torch.nn.Module:
    torch.manual_seed(i)
    return create_model(name, num_classes=10, **kwargs)


def shared_ancestor_pool(n: int) -> dict[str, torch.nn.Module]:
    pool = {"base": _model(0, *ARCHITECTURES[0])}
    gen = torch.Generator().manual_seed(1)
    for i in range(1, n):
        tuned = _model(0, *ARCHITECTURES[0])
        with torch.no_grad():
            for p in tuned.parameters():
                if p.numel() > 1:
                    p.add_(0.05 * p.std() * torch.randn(p.shape, generator=gen))
        pool[f"tuned{i}"] = tuned
    return pool


def mixed_pool(n: int) -> dict[str, torch.nn.Module]:
    return {f"{ARCHITECTURES[i % 5][0]}_{i}": _model(i, *ARCHITECTURES[i % 5]) for i in range(n)}


def svd_flops(r: int, t: int) -> float:
    r, t = max(r, t), min(r, t)
    return 4 * r * t * t + 22 * t ** 3


def atoms_flops(model: torch.nn.Module, n: int) -> float:
    """n models of `model`'s architecture: reference Gram, eigenvectors and coefficients; per model the
    least squares and residual; all-pairs cosines."""
    total = 0.0
    for layer in spatial_convs(model):
        r, t = layer.weight.shape[0] * layer.weight.shape[1], int(np.prod(layer.kernel))
        m = min(ATOMS_M, t)
        total += 2 * r * t * t + 9 * t ** 3 + 2 * r * t * m
        total += n * (2 * r * m * m + svd_flops(m, m) + 2 * r * m * t + 2 * m * m * t + 2 * r * m * t + 4 * r * t)
        total += 2 * n * n * m * t + 3 * n * m * t
    return total


def grassmann_flops(models: list[torch.nn.Module]) -> float:
    """Per layer the Gram matrix and its eigendecomposition; per pair and matched layer U^T V and its SVD."""
    t, m = GRASSMANN_K ** 2, GRASSMANN_M
    counts, total = [], 0.0
    for model in models:
        layers = spatial_convs(model)
        counts.append(len(layers))
        for layer in layers:
            r = layer.weight.shape[0] * layer.weight.shape[1]
            resample = 8 * r * t if layer.kernel != (GRASSMANN_K, GRASSMANN_K) else 0
            total += resample + 2 * r * t * t + 9 * t ** 3
    for i, a in enumerate(counts):
        for b in counts[i:]:
            total += min(a, b) * (2 * t * m * m + svd_flops(m, m))
    return total


def forward_flops(model: torch.nn.Module, size: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops()


def cka_flops(forward: list[float], dims: list[int], p: int) -> float:
    """Forward passes, centring and Gram matrix per model, centring and norm per Gram, all-pairs products."""
    n = len(forward)
    return sum(f * p + 2 * p * d + 2 * p * p * d + 5 * p * p for f, d in zip(forward, dims)) + 2 * n * n * p * p


def cka_seconds(models: list[torch.nn.Module], images: torch.Tensor) -> tuple[float, list[int]]:
    """Seconds for pre-logit features of every model, their linear Gram matrices and all-pairs CKA; feature sizes.

    Every model runs once on two images first (not timed), so one-time set-up costs stay out.
    """
    with torch.no_grad():
        for model in models:
            model(images[:2])
    start = time.perf_counter()
    grams, dims = [], []
    for model in models:
        with torch.no_grad():
            features = model.forward_head(model.forward_features(images), pre_logits=True).flatten(1)
        grams.append(gram_linear(features))
        dims.append(features.shape[1])
    cka_matrix(grams)
    return time.perf_counter() - start, dims


def measure_seconds(measure, pool: dict, options: dict) -> float:
    """Seconds for the measure on the pool, after one untimed run on two of its models."""
    run = Run({k: PixelModel(m, input_size=32) for k, m in pool.items()}, None)
    measure(Run(dict(list(run.models.items())[:2]), None), options)
    start = time.perf_counter()
    measure(run, options)
    return time.perf_counter() - start


def imagenet_scale(n: int, p: int = 10_000) -> dict:
    """FLOPs only: n fine-tunes of a ResNet-50 at 224 x 224; CKA on p probing images (2048 pre-logit features)."""
    resnet50 = create_model("resnet50")
    weights = atoms_flops(resnet50, n)
    cka = cka_flops([forward_flops(resnet50, 224)] * n, [resnet50.num_features] * n, p)
    return {"metric": "atoms, ResNet-50 @224 (FLOPs only)", "models": n, "flops": weights,
            "cka_probe_images": p, "cka_flops": cka, "flop_ratio": cka / weights}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--probe", type=int, default=500, help="probing images for CKA")
    parser.add_argument("--repeat", type=int, default=1, help="report the best of this many runs")
    parser.add_argument("--out", help="write the figures as JSON")
    args = parser.parse_args()
    images = describe({"source": "digits", "resolution": 32}).load(list(range(args.probe))).images
    images = (images - 0.5) / 0.5
    rows = []
    for metric, pool, measure, options in [
        ("atoms", shared_ancestor_pool(args.models), atoms, {"m": ATOMS_M}),
        ("grassmann", mixed_pool(args.models), grassmann, {"m": GRASSMANN_M, "k": GRASSMANN_K}),
    ]:
        models = list(pool.values())
        seconds = min(measure_seconds(measure, pool, options) for _ in range(args.repeat))
        cka_runs = [cka_seconds(models, images) for _ in range(args.repeat)]
        flops = atoms_flops(models[0], len(models)) if metric == "atoms" else grassmann_flops(models)
        cka = cka_flops([forward_flops(m, 32) for m in models], cka_runs[0][1], args.probe)
        cka_time = min(s for s, _ in cka_runs)
        rows.append({"metric": metric, "models": len(models), "seconds": seconds, "flops": flops,
                     "cka_probe_images": args.probe, "cka_seconds": cka_time, "cka_flops": cka,
                     "flop_ratio": cka / flops, "time_ratio": cka_time / seconds})
    rows.append(imagenet_scale(args.models))
    print(f"torch threads: {torch.get_num_threads()}, best of {args.repeat}")
    print(f"{'metric':<36} {'models':>6} {'seconds':>8} {'GFLOP':>9} {'CKA s':>7} {'CKA GFLOP':>11} "
          f"{'FLOP ratio':>11} {'time ratio':>10}")
    for r in rows:
        timing = (f"{r['seconds']:>8.2f}", f"{r['cka_seconds']:>7.1f}", f"{r['time_ratio']:>10.1f}") \
            if "seconds" in r else (f"{'-':>8}", f"{'-':>7}", f"{'-':>10}")
        print(f"{r['metric']:<36} {r['models']:>6} {timing[0]} {r['flops'] / 1e9:>9.3f} {timing[1]} "
              f"{r['cka_flops'] / 1e9:>11.1f} {r['flop_ratio']:>11.3g} {timing[2]}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
