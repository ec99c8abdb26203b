"""Peak memory of `archsim sat` on a fresh run store for N = 4, 8, 16 tiny models.

    python benchmarks/store_memory.py [--models 4 8 16] [--per-class 50] [--work DIR]

Each N runs in a fresh process (so ru_maxrss is that run's own peak): N small
timm models (narrow ResNet-18s of two widths, each from its own seed, trained
for 5 epochs on the digits at 16 x 16 outside the evaluation images, weights
cached across N), `--per-class` x 10 evaluation images, native PGD with 3
steps, so N attack units and N^2 evaluation units. It prints the peak
RSS, the peak minus the models' own weight bytes (parameters and buffers), and
the RSS after the run once glibc has handed freed memory back (malloc_trim):
the live memory. Evaluation streams one batch of adversarial images at a time
from the store, so no buffer of archsim's grows with N beyond the models and
the outcome vectors (N^2 x images bytes). Linux only (ru_maxrss, /proc, glibc).

Measured on the project's 2-core CPU machine (torch 2.14, nothing else running):

      N  units  peak RSS   weights  peak - weights  after, trimmed    time
      4     20   911 MiB   7.0 MiB         904 MiB         883 MiB    3.8 s
      8     72   947 MiB  13.9 MiB         933 MiB         901 MiB    7.3 s
     16    272  1011 MiB  27.9 MiB         983 MiB         914 MiB   17.1 s

About 850 MiB of it is Python with torch and timm imported and the images
loaded. The live memory minus the weights stays at 876, 887, 886 MiB. What the
peak adds with N is memory glibc's allocator (and torch's CPU kernel caches)
keep after free, one lot per new batch shape (the last batch of each attack and
evaluation has its own size): with MALLOC_MMAP_THRESHOLD_=65536 the peak minus
weights is 894, 915 and 927 MiB.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def config(n_models: int, per_class: int, cache: Path) -> dict:
    widths = ([16, 32, 64, 128], [8, 16, 32, 64])
    models = [{"name": "resnet18", "label": f"m{i:02d}", "seed": i, "input_size": 16,
               "kwargs": {"num_classes": 10, "channels": widths[i % 2]}} for i in range(n_models)]
    return {"seed": 0, "device": "cpu", "batch_size": 64, "cache_dir": str(cache),
            "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": per_class, "seed": 0}},
            "train": {"epochs": 5, "lr": 0.003, "batch_size": 64},
            "attack": {"eps": 0.1, "alpha": 0.03, "steps": 3}, "models": models}


def child(config_path: str, out: str) -> None:
    """Run `archsim sat` in this process; print its peak RSS and the models' weight bytes as JSON."""
    from archsim.cli import main
    from archsim.config import load_config
    from archsim.zoo.build import wrap

    start = time.perf_counter()
    assert main(["sat", "--config", config_path, "--out", out, "--no-progress"]) == 0
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    weights = sum(t.numel() * t.element_size() for spec in load_config(config_path).models
                  for t in wrap(spec).state_dict().values())
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand memory glibc keeps after free back to the system
    with open("/proc/self/status") as f:
        live = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
    print(json.dumps({"peak_rss": peak, "live_rss": live, "weights": weights, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--work", type=Path, help="folder for configs, stores and the weights cache (default: temp)")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--train", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.train:
        from archsim.config import load_config
        from archsim.zoo.build import build_run

        build_run(load_config(args.train), progress=False)
        return None
    work = args.work or Path(tempfile.mkdtemp(prefix="archsim-store-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "train.yaml"  # train every model once (cached), outside the measured runs
    path.write_text(yaml.safe_dump(config(max(args.models), args.per_class, work / "cache")))
    subprocess.run([sys.executable, __file__, "--train", str(path)], check=True)
    print(f"{'N':>3}  {'units':>5}  {'peak RSS':>8}  {'weights':>8}  {'peak - weights':>14}  "
          f"{'after, trimmed':>14}  {'time':>6}")
    for n in args.models:
        path, out = work / f"n{n}.yaml", work / f"n{n}"
        path.write_text(yaml.safe_dump(config(n, args.per_class, work / "cache")))
        shutil.rmtree(out, ignore_errors=True)  # a fresh store: every unit runs
        proc = subprocess.run([sys.executable, __file__, "--child", str(path), str(out)],
                              check=True, capture_output=True, text=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        mib = 2 ** 20
        print(f"{n:>3}  {n + n * n:>5}  {r['peak_rss'] / mib:4.0f} MiB  {r['weights'] / mib:4.1f} MiB  "
              f"{(r['peak_rss'] - r['weights']) / mib:10.0f} MiB  {r['live_rss'] / mib:10.0f} MiB  "
              f"{r['seconds']:5.1f} s")


if __name__ == "__main__":
    main()
