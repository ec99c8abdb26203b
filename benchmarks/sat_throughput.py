"""SAT throughput against the hardware limit: attacks and evaluations of 224-px models vs the dense matmul rate.

    python benchmarks/sat_throughput.py [--models resnet50 vit_small_patch16_224 convnext_tiny]
        [--images 8] [--eval-images 32] [--steps 2] [--batch-size 8] [--eval-batch-size 32]
        [--layouts contiguous channels_last] [--precision fp32] [--device cpu]

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

It prints one table. Keep --images small on a shared CPU: each attack image costs 2 x steps forward passes.
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


def timed(fn, device: torch.device, warm_up=None) -> tuple[object, float, float]:
    """fn()'s result, seconds and peak MiB; `warm_up()` (one batch: oneDNN builds its kernels) runs first."""
    if warm_up is not None:
        warm_up()
    peak_reset(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start, peak_mib(device)


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


def bench_model(name: str, args, device: torch.device, rate: float) -> list[list[str]]:
    torch.manual_seed(0)
    net = PixelModel(timm.create_model(name, pretrained=False), input_size=224).to(device)
    f = forward_flops(net, (3, 224, 224))
    step = attack_step_flops(net, (3, 224, 224))  # forward + backward to the input, counted
    n = max(args.images, args.eval_images)
    images = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        labels = torch.cat([net(images[i:i + args.eval_batch_size].to(device)).argmax(1).cpu()
                            for i in range(0, n, args.eval_batch_size)])
    eps, alpha, steps = 4 / 255, 1 / 255, args.steps
    cfg = {"backend": "native", "norm": "Linf", "eps": eps, "alpha": alpha, "steps": steps, "random_start": True}
    atk_x, atk_y = images[:args.images], labels[:args.images]
    rows = []

    def row(what, layout, seconds, count, flops_per_image, peak, ref_seconds=None):
        gflops = count * flops_per_image / seconds / 1e9
        ratio = "" if ref_seconds is None else f"{ref_seconds / seconds:.2f}"
        rows.append([name, what, layout, f"{count / seconds:.2f}", f"{gflops:.1f}", f"{1e9 * gflops / rate:.2f}",
                     ratio, f"{peak:.0f}"])

    bs, ebs = args.batch_size, args.eval_batch_size
    _, ref_attack_s, ref_attack_peak = timed(
        lambda: reference_attack(net, atk_x, atk_y, eps, alpha, steps, bs, device), device,
        lambda: reference_attack(net, atk_x[:bs], atk_y[:bs], eps, alpha, 1, bs, device))
    rows.append([name, "attack, torchattacks loop", "contiguous", f"{args.images / ref_attack_s:.2f}",
                 f"{args.images * steps * step / ref_attack_s / 1e9:.1f}",
                 f"{args.images * steps * step / ref_attack_s / rate:.2f}", "1", f"{ref_attack_peak:.0f}"])
    _, ref_eval_s, ref_eval_peak = timed(
        lambda: reference_eval(net, images[:args.eval_images], labels[:args.eval_images], ebs, device), device,
        lambda: reference_eval(net, images[:ebs], labels[:ebs], ebs, device))
    rows.append([name, "evaluation, no_grad loop", "contiguous", f"{args.eval_images / ref_eval_s:.2f}",
                 f"{args.eval_images * f / ref_eval_s / 1e9:.1f}", f"{args.eval_images * f / ref_eval_s / rate:.2f}",
                 "1", f"{ref_eval_peak:.0f}"])
    for layout in args.layouts:
        model = prepared(net, args.precision, channels_last=layout == "channels_last")
        every = np.ones(args.images, dtype=bool)
        adv, attack_s, attack_peak = timed(
            lambda: units.attack(model, atk_x, atk_y, every, cfg, seed=0, batch_size=bs, device=device), device,
            lambda: units.attack(model, atk_x[:bs], atk_y[:bs], every[:bs], {**cfg, "steps": 1}, seed=0,
                                 batch_size=bs, device=device))
        row(f"attack, archsim {args.precision}", layout, attack_s, args.images, steps * step, attack_peak,
            ref_attack_s)
        keep = np.ones(n, dtype=bool)
        eval_adv = type(adv).in_memory(np.arange(args.eval_images),
                                       torch.zeros(args.eval_images, 3, 224, 224, dtype=torch.float16))
        step = max(1, args.eval_batch_size // units.EVAL_BATCH_FACTOR)  # units.evaluate batches 4 x batch_size
        w = min(ebs, args.eval_images)
        warm_adv = type(adv).in_memory(np.arange(w), torch.zeros(w, 3, 224, 224, dtype=torch.float16))
        _, eval_s, eval_peak = timed(
            lambda: units.evaluate(model, images, labels, eval_adv, keep, batch_size=step, device=device, name=name),
            device, lambda: units.evaluate(model, images, labels, warm_adv, keep, batch_size=step, device=device,
                                           name=name))
        row(f"evaluation, archsim {args.precision}", layout, eval_s, args.eval_images, f, eval_peak, ref_eval_s)
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
    rows = []
    for m in args.models:  # the rate again before each model: on a shared machine the load drifts
        rate = matmul_rate(device, args.precision, seconds=1.0)
        rows += [[*r[:3], f"{rate / 1e9:.0f}", *r[3:]] for r in bench_model(m, args, device, rate)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print("matmul GFLOP/s: the dense matmul rate measured just before the model's rows, in the run's precision")


if __name__ == "__main__":
    main()
