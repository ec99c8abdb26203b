"""What a SAT run costs: forward-pass FLOPs per unit, and the time they take on a device.

With f_i the FLOPs of one forward pass of model i on one image (counted by
`torch.utils.flop_counter`, a multiply-add = 2 FLOPs), n images and an attack
of `steps` gradient steps, the units of a run cost

    attack of s          n (1 + 2 steps) f_s     (its clean pass, then the attack; an upper bound:
                                                  only the images s gets right are attacked)
    noise control of s   n f_s                   (random noise needs no gradient)
    evaluation (s, t)    n f_t                   (t on s's adversarial images; again an upper bound)

An attack step is a forward pass and a backward pass to the input only (the
parameters need no gradient), and that backward costs what the forward does:
STEP_FORWARDS = 2 (`attack_step_flops` counts 2.00 forward passes for
resnet50, resnet18, convnext_tiny and mixer_b16_224 at 224 px, 2.08 for
vit_small_patch16_224, whose attention matmuls take the gradient to both
operands; the often quoted 3 holds for training, with weight gradients).
So a whole run of N models costs n ((2 + 2 steps) sum_i f_i + N sum_t f_t)
FLOPs: the attacks grow with N, the evaluations with N^2 (at N = 69 and 10
steps evaluations are 75% of it). A pair budget (`archsim sat --pairs`) runs every
attack and E of the N^2 evaluations, the targets chosen as the run goes:
n ((2 + 2 steps) sum_i f_i + E mean_t f_t). Adding model N+1 to a stored run costs its
attack and noise unit and the 2N+1 evaluations it is part of:
n ((2 + 2 steps + N + 1) f_new + sum_t f_t).

Time is FLOPs / rate, with rate = efficiency x the device's dense matmul rate
(`matmul_rate`, measured in the run's precision). `EFFICIENCY` is a round figure
below the fraction of the matmul rate that attacks and evaluations of 224-px
models reached in `benchmarks/sat_throughput.py` on this project's CPU (0.66
to 0.9 in fp32, docs/performance.md); small models (32 px, a few MFLOPs) run
further below the rate, so for them the estimate is optimistic.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from attacks import threat_model

STEP_FORWARDS = 2  # an attack step: forward + backward to the input, in forward passes (module docstring)
EFFICIENCY = 0.5  # measured: 0.66-0.9 for 224-px models on the CPU (fp32), less for tiny ones; a round lower figure
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Cost:
    flops: dict[str, float]  # by unit kind (attack, evaluation, noise)
    units: dict[str, int]  # by unit kind
    rate: float | None = None  # FLOP/s assumed (efficiency x matmul rate); None: no time

    @property
    def total_flops(self) -> float:
        return float(sum(self.flops.values()))

    @property
    def seconds(self) -> float | None:
        return None if self.rate is None else self.total_flops / self.rate

    def with_rate(self, rate: float) -> Cost:
        return Cost(self.flops, self.units, rate)


def attack_steps(attack: Mapping) -> int:
    """Gradient steps the attack of `attack` really takes, its class defaults included (`attacks.threat_model`):
    `{backend: torchattacks, name: PGD}` takes torchattacks' 10; a class without `steps` 1 (FGSM)."""
    return threat_model(attack).steps


def unit_flops(kind: str, source_flops: float, target_flops: float | None, n_images: int, steps: int) -> float:
    """FLOPs of one unit on n_images (module docstring)."""
    if kind == "attack":
        return n_images * (1 + STEP_FORWARDS * steps) * source_flops
    if kind == "noise":
        return n_images * source_flops
    if kind == "evaluation":
        return n_images * target_flops
    raise ValueError(f"unknown unit kind {kind!r}")


def units_cost(units: Iterable[tuple[str, str, str | None]], flops: Mapping[str, float], n_images: int,
               steps: int) -> Cost:
    """The cost of units given as (kind, source label, target label or None), `flops` per label."""
    by_kind, count = {"attack": 0.0, "evaluation": 0.0, "noise": 0.0}, {"attack": 0, "evaluation": 0, "noise": 0}
    for kind, source, target in units:
        by_kind[kind] += unit_flops(kind, flops[source], None if target is None else flops[target], n_images, steps)
        count[kind] += 1
    return Cost(by_kind, count)


def run_cost(flops: Iterable[float], n_images: int, steps: int, *, noise: bool = True) -> Cost:
    """A whole run of models with forward FLOPs `flops` (all units, nothing stored yet)."""
    f = list(flops)
    n, total = len(f), float(sum(f))
    by_kind = {"attack": n_images * (1 + STEP_FORWARDS * steps) * total, "evaluation": n_images * n * total,
               "noise": n_images * total if noise else 0.0}
    return Cost(by_kind, {"attack": n, "evaluation": n * n, "noise": n if noise else 0})


def budgeted_run_cost(flops: Iterable[float], n_images: int, steps: int, evaluations: int, *,
                      noise: bool = True) -> Cost:
    """A run whose pair budget buys `evaluations` of the N^2 (`archsim.sat.pair_choice`): every attack (and noise
    control), and `evaluations` evaluations at the pool's mean forward cost (the targets are chosen as it runs)."""
    f = list(flops)
    full = run_cost(f, n_images, steps, noise=noise)
    by_kind = {**full.flops, "evaluation": n_images * evaluations * float(sum(f)) / len(f)}
    return Cost(by_kind, {**full.units, "evaluation": evaluations})


def added_model_cost(new_flops: float, flops: Iterable[float], n_images: int, steps: int, *,
                     noise: bool = True) -> Cost:
    """Adding one model to a stored run of models with forward FLOPs `flops`."""
    f = list(flops)
    n = len(f)
    by_kind = {"attack": n_images * (1 + STEP_FORWARDS * steps) * new_flops,
               "evaluation": n_images * ((n + 1) * new_flops + sum(f)),
               "noise": n_images * new_flops if noise else 0.0}
    return Cost(by_kind, {"attack": 1, "evaluation": 2 * n + 1, "noise": 1 if noise else 0})


def forward_flops(model, image_shape) -> float:
    """FLOPs of one forward pass of `model` on one image of shape (C, H, W), counted by torch's flop counter."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros((1, *image_shape), device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return float(counter.get_total_flops())


def attack_step_flops(model, image_shape) -> float:
    """FLOPs of one attack step on one image: the forward pass and the backward pass to the input (the
    parameters need no gradient), counted by torch's flop counter."""
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    x = torch.zeros((1, *image_shape), device=device, requires_grad=True)
    wanted = [p.requires_grad for p in params]
    counter = FlopCounterMode(display=False)
    try:
        for p in params:
            p.requires_grad_(False)  # the gradient to the input only, as an attack takes it
        with torch.enable_grad(), counter:
            model(x).float().logsumexp(1).sum().backward()  # (autograd.grad is not supported by the counter)
    finally:
        for p, w in zip(params, wanted):
            p.requires_grad_(w)
    return float(counter.get_total_flops())


def matmul_rate(device, precision: str = "fp32", *, size: int = 2048, seconds: float = 0.3) -> float:
    """The dense matmul rate of `device` in FLOP/s: square `size` matmuls in `precision`, repeated for ~`seconds`;
    the fastest one counts (on a shared machine, other work only ever slows a matmul down)."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=DTYPES[precision])
    b = torch.randn(size, size, device=device, dtype=DTYPES[precision])
    _sync(device, a @ b)  # warm-up
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        _sync(device, a @ b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * size ** 3 / best


def _sync(device: torch.device, _result) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def format_seconds(seconds: float) -> str:
    """'42 s', '12.5 min', '3.2 h', '4.1 days'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
