"""SAT through the run store: run what the store in a run folder lacks, then read the result back.

    sat_in_store(out_dir, cfg, run_, progress, make_executor) -> (SATResult, RunReport)
    plan_run(store, cfg, run_) -> Plan   (registers the config's models, images and attack)
    local_executor(cfg)                  the default make_executor: on the CPU of a machine with several cores a
                                         ProcessExecutor, one process per core; else a LocalExecutor

The store (`archsim.store`) keeps every unit by content, so a rerun computes
only what is missing and a killed run resumes where it stopped.
"""

from __future__ import annotations

import attacks
from archsim.config import RunConfig
from archsim.sat.result import SATResult
from archsim.store import (
    LocalExecutor,
    Plan,
    ProcessExecutor,
    RunReport,
    RunStore,
    attack_entry,
    dataset_entry,
    model_entry,
    run_plan,
)
from archsim.workers import cpu_workers
from archsim.zoo.build import Run


def sat_in_store(out_dir, cfg: RunConfig, run_: Run, *, progress: bool = True,
                 make_executor=None) -> tuple[SATResult, RunReport]:
    """Run what the store in `out_dir` lacks for `cfg`'s SAT and read the result back from it.

    `make_executor(models, images, labels)` builds the executor (default: a
    LocalExecutor on the config's device).
    """
    store = RunStore(out_dir)
    try:
        plan = plan_run(store, cfg, run_)
        models = {i: run_.models[label] for label, i in zip(plan.labels, plan.model_ids)}
        images, labels = run_.images.images, run_.images.labels
        executor = (make_executor or local_executor(cfg))(models, images, labels)
        try:
            report = run_plan(store, plan, executor, progress=progress)
        finally:
            executor.close()
        return store.sat_result(plan, cfg.eps_s), report
    finally:
        store.close()


def local_executor(cfg: RunConfig):
    """make_executor(models, images, labels): units side by side in `cpu_workers` processes on the CPU (when that
    is more than one), else a LocalExecutor on the config's device."""
    def make(models, images, labels):
        workers = cpu_workers(len(models), cfg.torch_device())
        if workers > 1:
            return ProcessExecutor(models, images, labels, workers, channels_last=cfg.channels_last)
        return LocalExecutor(models, images, labels, str(cfg.torch_device()), channels_last=cfg.channels_last)
    return make


def plan_run(store: RunStore, cfg: RunConfig, run_: Run, *, skip=()) -> Plan:
    """Register the config's models (but those labelled in `skip`), images and attack in `store`; the plan."""
    entries = [model_entry(s.label, s.name, s.kwargs, run_.models[s.label]) for s in cfg.models if s.label not in skip]
    return store.register(entries, dataset_entry(run_.images),
                          attack_entry(cfg.attack, cfg.seed, cfg.batch_size, cfg.precision),
                          noise=attacks.noise_config(cfg.attack) is not None)
