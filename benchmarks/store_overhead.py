"""The run store's bookkeeping per unit at N = 32 tiny models (1,056 units): claiming, SQLite, tensor I/O.

    python benchmarks/store_overhead.py [--models 32] [--per-class 4] [--repeats 1]

N randomly initialised ResNet-18s of width 4 at 8 x 8 px (the digits, `--per-class` x 10
images), native PGD with 1 step, no noise control: N attack and N^2 evaluation
units, so compute is a small part of the time. `run_plan` runs them on a fresh
store with the local executor, once with the evaluations of a target claimed,
run and recorded as one job (the default, `EVALUATIONS_PER_JOB`) and once one
unit per job (one claim and one record transaction per unit). Time spent inside
`archsim.sat.units` (the forward and backward passes) is measured and taken
out:

    overhead per unit = (run_plan wall time - time in archsim.sat.units) / units
    store    = run_plan wall time - time inside the executor's jobs (claims, records, SQLite)
    job I/O  = time inside jobs - time in archsim.sat.units (adversarial sets written, read, sha256)

Single-threaded (OMP_NUM_THREADS=1). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch

from archsim.sat import units
from archsim.store import LocalExecutor, RunStore, attack_entry, dataset_entry, model_entry, resume, run_plan
from archsim.zoo.data import describe, select_indices
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel

ATTACK = {"backend": "native", "norm": "Linf", "eps": 0.1, "alpha": 0.1, "steps": 1, "random_start": False}
TIMED = ("clean_pass", "attack", "evaluate")


def tiny_models(n: int) -> dict[str, PixelModel]:
    out = {}
    for i in range(n):
        torch.manual_seed(i)
        out[f"m{i:02d}"] = PixelModel(create_model("resnet18", num_classes=10, channels=(4, 4, 4, 4)), input_size=8)
    return out


class Timed:
    """Wraps archsim.sat.units' compute functions and the executor's submit, adding up their time."""

    def __init__(self):
        self.compute = self.jobs = 0.0

    def wrap(self, fn, field):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(self, field, getattr(self, field) + time.perf_counter() - start)
        return timed


def one_run(models, images, per_job: int, work: Path) -> dict:
    store = RunStore(work)
    timer = Timed()
    saved = {name: getattr(units, name) for name in TIMED}
    resume.EVALUATIONS_PER_JOB, default = per_job, resume.EVALUATIONS_PER_JOB
    for name in TIMED:
        setattr(units, name, timer.wrap(saved[name], "compute"))
    try:
        start = time.perf_counter()
        entries = [model_entry(label, "resnet18", {}, m) for label, m in models.items()]
        plan = store.register(entries, dataset_entry(images), attack_entry(ATTACK, 0, 64), noise=False)
        registered = time.perf_counter() - start
        ids = {label: i for label, i in zip(plan.labels, plan.model_ids)}
        executor = LocalExecutor({ids[k]: m for k, m in models.items()}, images.images, images.labels, "cpu")
        executor.submit = timer.wrap(executor.submit, "jobs")
        start = time.perf_counter()
        report = run_plan(store, plan, executor, progress=False)
        wall = time.perf_counter() - start
        start = time.perf_counter()
        store.sat_result(plan, 0.01)
        read = time.perf_counter() - start
    finally:
        for name in TIMED:
            setattr(units, name, saved[name])
        resume.EVALUATIONS_PER_JOB = default
        store.close()
    n = sum(report.ran.values())
    return {"units": n, "wall": wall, "compute": timer.compute, "register_ms": 1e3 * registered,
            "overhead_ms": 1e3 * (wall - timer.compute) / n, "store_ms": 1e3 * (wall - timer.jobs) / n,
            "io_ms": 1e3 * (timer.jobs - timer.compute) / n, "read_ms": 1e3 * read}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*no image both models classify correctly")  # random weights
    catalog = describe({"source": "digits", "resolution": 8})
    images = catalog.load(select_indices(catalog.labels, how="balanced", n=args.per_class, seed=0))
    models = tiny_models(args.models)
    print(f"{args.models} models, {len(images.labels)} images at 8 x 8, torch threads {torch.get_num_threads()}")
    print(f"{'evaluations per job':>20} {'units':>6} {'wall s':>7} {'compute s':>9} {'overhead ms/unit':>16} "
          f"{'store ms/unit':>13} {'job I/O ms/unit':>15} {'register ms':>11} {'read result ms':>14}")
    for per_job in (resume.EVALUATIONS_PER_JOB, 1):
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as work:
                r = one_run(models, images, per_job, Path(work))
            print(f"{per_job:>20} {r['units']:>6} {r['wall']:>7.2f} {r['compute']:>9.2f} {r['overhead_ms']:>16.2f} "
                  f"{r['store_ms']:>13.2f} {r['io_ms']:>15.2f} {r['register_ms']:>11.1f} {r['read_ms']:>14.1f}")


if __name__ == "__main__":
    main()
