"""Training side by side: the demo zoo's models trained one after the other in this process (torch's default
threads) against the same jobs in a pool of `archsim.workers.cpu_workers` single-threaded processes.

Both runs train the same models for `--epochs` epochs on the demo's 3,500 training images (MNIST-5k) and cache
them in a temporary folder; the script prints each run's wall time and their ratio. It runs on the CPU and needs
an otherwise idle machine.

    python benchmarks/train_pool.py                   # 8 of the demo's models, 1 epoch each (about 3 minutes)
    python benchmarks/train_pool.py --models 16 --epochs 2
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from archsim.config import load_config
from archsim.workers import cores, cpu_workers
from archsim.zoo.build import build_run, wrap
from archsim.zoo.train_pool import TrainJob, train_and_cache


def jobs(cfg, images, epochs: int, folder: Path, n_models: int) -> list[TrainJob]:
    out = []
    for spec in cfg.models[:n_models]:
        out.append(TrainJob(wrap(spec, tuple(images.shape[1:])),
                            {**spec.training.classifier_kwargs(spec.seed), "epochs": epochs},
                            folder / f"{spec.label}.safetensors", {"label": spec.label}, f"model {spec.label!r}"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    cfg = load_config(Path(__file__).resolve().parent.parent / "configs" / "demo.yaml")
    train = build_run(cfg, progress=False, train=False).training  # the demo's training images; nothing trained
    os.environ["ARCHSIM_WORKERS"] = str(cores())  # as the command line would: every core
    workers = cpu_workers(args.models, "cpu")
    print(f"{cores()} cores; {args.models} models x {args.epochs} epoch(s) on {len(train.labels)} images; "
          f"torch threads in this process: {torch.get_num_threads()}; pool: {workers} processes")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {}
        for name, env in (("one after the other", "1"), (f"pool of {workers}", str(workers))):
            os.environ["ARCHSIM_WORKERS"] = env
            run = jobs(cfg, train.images, args.epochs, Path(tmp) / env, args.models)
            start = time.perf_counter()
            train_and_cache(run, train.images, train.labels, device="cpu", progress=False)
            seconds[name] = time.perf_counter() - start
            print(f"{name:>22}: {seconds[name]:7.1f} s")
    first, second = seconds.values()
    print(f"ratio (one after the other / pool): {first / second:.2f}")


if __name__ == "__main__":
    main()
