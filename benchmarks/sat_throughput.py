"""SAT throughput against the hardware limit: attacks and evaluations of 224-px models vs the dense matmul rate.

    python benchmarks/sat_throughput.py [--models resnet50 vit_small_patch16_224 convnext_tiny]
        [--images 8] [--eval-images 32] [--steps 2] [--batch-size 8] [--eval-batch-size 32]
        [--layouts contiguous channels_last] [--precision fp32] [--device cpu] [--repeats 2] [--profile]

1. The dense matmul rate of the device (`archsim.sat.cost.matmul_rate`; fp32, and bf16 / fp16 on a GPU),
   again before each model (the table's fractions are of that rate: on a shared machine the load drifts).
2. For each timm model (random weights, inside archsim's PixelModel) on random 224 x 224 images, labelled
   with the model's own predictions so that every image is attacked:
   - archsim's attack (`archsim.sat.units.attack`: native PGD Linf, `--steps` steps, float16 adversarial set)
     and evaluation (`units.evaluate`: the set read back in inference batches of `--eval-batch-size`), in
     `--precision` and each `--layouts` memory layout (`archsim.sat.precision`);
   - the reference: a plain loop of torchattacks.PGD with the same budget and a `torch.no_grad` argmax loop,
     on the same model and images;
   img/s, GFLOP/s (FLOPs by torch.utils.flop_counter: a forward pass, and an attack step's forward plus
   backward to the input, `archsim.sat.cost.attack_step_flops`), that rate as a fraction of the matmul rate,
   archsim / reference, and the peak memory
   (GPU: torch.cuda.max_memory_allocated; CPU: the process's peak RSS, VmHWM, reset before each measurement,
   so it includes the model and Python).

Every time is the best of `--repeats` runs, after a warm-up batch. `--profile` also prints, per model and
layout, the ops with the most self time in one inference batch (torch.profiler). It prints one table.
Keep --images small on a shared CPU: each attack image costs 2 x steps forward passes.
Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import timm
import torch
import torchattacks

from archsim.sat import units
from archsim.sat.advset import AdvSet
from archsim.sat.cost import attack_step_flops, forward_flops, matmul_rate
from archsim.sat.precision import prepared
from archsim.zoo.wrapper import PixelModel


def peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(repeats: int, fn, device: torch.device, warm_up=None) -> tuple[object, float, float]:
    """fn()'s result, its best time of `repeats` runs (on a shared machine other work only slows a run down) and
    peak MiB; `warm_up()` (one batch: oneDNN builds its kernels) runs first."""
    if warm_up is not None:
        warm_up()
    best = float("inf")
    for _ in range(repeats):
        peak_reset(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return out, best, peak_mib(device)


def profile(model, images: torch.Tensor, device: torch.device, top: int = 6) -> str:
    """Where one inference batch's time goes: the ops with the most self time (torch.profiler), and their share."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.inference_mode():
        model(images.to(device))
        with torch_profile(activities=activities) as prof:
            model(images.to(device))
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return ", ".join(f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in events[:top])


def reference_attack(model, images, labels, eps, alpha, steps, batch_size, device) -> torch.Tensor:
    atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    return torch.cat([atk(images[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def reference_eval(model, images, labels, batch_size, device) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            out.append((model(images[i:i + batch_size].to(device)).argmax(1).cpu() == labels[i:i + batch_size]))
    return torch.cat(out).numpy()


def bench_model(name: str, args, device: torch.device) -> list[list[str]]:
    """The table's rows for timm model `name`; fractions of the matmul rate measured just before (fp32 for the
    fp32 reference loops, the run's precision for archsim's rows)."""
    torch.manual_seed(0)
    net = PixelModel(timm.create_model(name, pretrained=False), input_size=224).to(device)
    f = forward_flops(net, (3, 224, 224))
    step = attack_step_flops(net, (3, 224, 224))  # forward + backward to the input, counted
    n, bs, ebs, steps = max(args.images, args.eval_images), args.batch_size, args.eval_batch_size, args.steps
    images = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        labels = torch.cat([net(images[i:i + ebs].to(device)).argmax(1).cpu() for i in range(0, n, ebs)])
    eps, alpha = 4 / 255, 1 / 255
    cfg = {"backend": "native", "norm": "Linf", "eps": eps, "alpha": alpha, "steps": steps, "random_start": True}
    atk_x, atk_y = images[:args.images], labels[:args.images]
    rates = {"fp32": matmul_rate(device, "fp32", seconds=1.0)}
    rates[args.precision] = matmul_rate(device, args.precision, seconds=1.0)
    rows = []

    def row(what, layout, precision, seconds, count, flops_per_image, peak, ref_seconds):
        rate = rates[precision]
        achieved = count * flops_per_image / seconds
        rows.append([name, what, layout, f"{rate / 1e9:.0f}", f"{count / seconds:.2f}", f"{achieved / 1e9:.1f}",
                     f"{achieved / rate:.2f}", f"{ref_seconds / seconds:.2f}", f"{peak:.0f}"])

    def measure(fn, warm_up):
        return timed(args.repeats, fn, device, warm_up)

    _, ref_attack_s, peak = measure(lambda: reference_attack(net, atk_x, atk_y, eps, alpha, steps, bs, device),
                                    lambda: reference_attack(net, atk_x[:bs], atk_y[:bs], eps, alpha, 1, bs, device))
    row("attack, torchattacks loop", "contiguous", "fp32", ref_attack_s, args.images, steps * step, peak, ref_attack_s)
    evaluated = images[:args.eval_images], labels[:args.eval_images]
    _, ref_eval_s, peak = measure(lambda: reference_eval(net, *evaluated, ebs, device),
                                  lambda: reference_eval(net, images[:ebs], labels[:ebs], ebs, device))
    row("evaluation, no_grad loop", "contiguous", "fp32", ref_eval_s, args.eval_images, f, peak, ref_eval_s)
    every, keep = np.ones(args.images, dtype=bool), np.ones(n, dtype=bool)
    eval_adv = AdvSet.in_memory(np.arange(args.eval_images), torch.zeros(args.eval_images, 3, 224, 224,
                                                                         dtype=torch.float16))
    w = min(ebs, args.eval_images)
    warm_adv = AdvSet.in_memory(np.arange(w), torch.zeros(w, 3, 224, 224, dtype=torch.float16))
    per = max(1, ebs // units.EVAL_BATCH_FACTOR)  # units.evaluate runs batches of 4 x batch_size
    for layout in args.layouts:
        model = prepared(net, args.precision, channels_last=layout == "channels_last")
        _, attack_s, peak = measure(
            lambda: units.attack(model, atk_x, atk_y, every, cfg, seed=0, batch_size=bs, device=device),
            lambda: units.attack(model, atk_x[:bs], atk_y[:bs], every[:bs], {**cfg, "steps": 1}, seed=0,
                                 batch_size=bs, device=device))
        row(f"attack, archsim {args.precision}", layout, args.precision, attack_s, args.images, steps * step, peak,
            ref_attack_s)
        _, eval_s, peak = measure(
            lambda: units.evaluate(model, images, labels, eval_adv, keep, batch_size=per, device=device, name=name),
            lambda: units.evaluate(model, images, labels, warm_adv, keep, batch_size=per, device=device, name=name))
        row(f"evaluation, archsim {args.precision}", layout, args.precision, eval_s, args.eval_images, f, peak,
            ref_eval_s)
        if args.profile:
            print(f"{name} {layout}, one inference batch of {w}: {profile(model, images[:w], device)}")
        net.to(memory_format=torch.contiguous_format)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["resnet50", "vit_small_patch16_224", "convnext_tiny"])
    p.add_argument("--images", type=int, default=8, help="attacked images per model")
    p.add_argument("--eval-images", type=int, default=32, help="evaluated images per model")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8, help="attack batch size")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--layouts", nargs="+", default=["contiguous", "channels_last"],
                   choices=["contiguous", "channels_last"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per measurement; the best counts")
    p.add_argument("--profile", action="store_true", help="print where an inference batch's time goes")
    args = p.parse_args()
    device = torch.device(args.device)
    rates = {"fp32": matmul_rate(device, "fp32", seconds=1.0)}
    for precision in ("bf16", "fp16") if device.type == "cuda" else ("bf16",) if args.precision == "bf16" else ():
        rates[precision] = matmul_rate(device, precision, seconds=1.0)  # fp16 matmuls on a CPU: far too slow
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} thread(s); dense matmul "
          + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items()))
    print(f"{args.images} attacked images ({args.steps} PGD steps, batches of {args.batch_size}), "
          f"{args.eval_images} evaluated images (batches of {args.eval_batch_size}), 224 x 224")
    header = ["model", "what", "layout", "matmul GFLOP/s", "img/s", "GFLOP/s", "of matmul", "vs reference",
              "peak MiB"]
    rows = [r for m in args.models for r in bench_model(m, args, device)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print("matmul GFLOP/s: the dense matmul rate measured just before the model's rows, in the row's precision "
          "(fp32 for the reference loops); vs reference: the reference loop's time / this row's")


if __name__ == "__main__":
    main()
