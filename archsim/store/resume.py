"""Run the units of a plan that the store does not have yet.

    report = run_plan(store, plan, executor, progress=True)

A loop: claim units (attacks first; an evaluation once its inputs are stored)
until the executor is full, wait for one to finish, record it; when nothing
can be claimed but units of the plan are still running elsewhere (another
process on the same store), poll until they are done or their lease lapses.
The worker's leases are renewed by a heartbeat meanwhile. An evaluation that
finds its adversarial set corrupt drops the set, which makes the attack unit
pending again: it is recomputed, reported in `report.recomputed`, and the
evaluation follows. Before that, every reused adversarial set of the plan must
exist with its recorded size (`RunStore.drop_missing_sets`; no file is read):
one that does not is recomputed the same way, with a warning. Units still in flight when the loop ends by an error or
an interrupt are given back.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

from tqdm.auto import tqdm

import attacks
from archsim.store.jobs import AttackJob, EvaluationJob, NoiseJob
from archsim.store.leases import Heartbeat, new_worker_id
from archsim.store.runstore import Claim, Plan, RunStore
from archsim.store.tensors import CorruptTensorFile, resolve

POLL_S = 0.5


@dataclass
class RunReport:
    ran: Counter = field(default_factory=Counter)  # units run here, by kind
    reused: int = 0  # units of the plan already done when the run started
    recomputed: list[str] = field(default_factory=list)  # corrupt files found and recomputed

    def summary(self) -> str:
        noise = f", {self.ran['noise']} noise-control units" if self.ran["noise"] else ""
        text = (f"ran {self.ran['attack']} attack and {self.ran['evaluation']} evaluation units{noise}; "
                f"{self.reused} reused from the store")
        if self.recomputed:
            text += f"; {len(self.recomputed)} corrupt adversarial set(s) recomputed"
        return text


def run_plan(store: RunStore, plan: Plan, executor, *, progress: bool = True) -> RunReport:
    """Run every unit of `plan` that is not done, with `executor`; see the module docstring."""
    worker = new_worker_id()
    missing = store.drop_missing_sets(plan)
    for path in missing:
        warnings.warn(f"adversarial set {resolve(store.run_dir, path)}: file is missing or not its recorded size; "
                      "recomputing it", stacklevel=2)
    counts = store.progress(plan)
    report = RunReport(reused=sum(n for (_, status), n in counts.items() if status == "done"), recomputed=missing)
    bar = tqdm(total=sum(counts.values()) - report.reused, desc="SAT units", unit="unit", disable=not progress)
    in_flight: dict = {}
    with Heartbeat(store.db_path, worker):
        try:
            while True:
                while len(in_flight) < executor.capacity and (claim := store.claim(plan, worker)) is not None:
                    in_flight[executor.submit(_job(claim, plan, store))] = claim
                if not in_flight:
                    if all(status == "done" for _, status in store.progress(plan)):
                        break
                    bar.set_postfix_str("waiting for units held by another worker")
                    time.sleep(POLL_S)
                    continue
                handle, result, error = executor.wait(list(in_flight))
                claim = in_flight.pop(handle)
                if isinstance(error, CorruptTensorFile):
                    _recompute(store, claim, error, report)
                elif error is not None:
                    store.release(claim, "failed")
                    raise error
                elif store.record(claim, result):
                    report.ran[claim.kind] += 1
                    bar.set_postfix_str(f"{claim.kind} {plan.name(claim.source)}"
                                        + (f" -> {plan.name(claim.target)}" if claim.target is not None else ""))
                    bar.update(1)
                elif claim.kind == "attack":  # lease lost meanwhile: another worker redoes the unit
                    resolve(store.run_dir, result.file.path).unlink(missing_ok=True)
        finally:
            store.release_all(worker, "interrupted")  # units in flight when an error or interrupt ends the loop
            bar.close()
    return report


def _job(claim: Claim, plan: Plan, store: RunStore) -> AttackJob | EvaluationJob | NoiseJob:
    cfg = plan.attack_config
    if claim.kind == "noise":
        return NoiseJob(claim.source, plan.name(claim.source), attacks.noise_config(cfg["attack"]), cfg["seed"],
                        cfg["batch_size"], claim.clean)
    if claim.kind == "attack":
        metadata = {"source": plan.model_keys[claim.source], "dataset": plan.dataset_key, "attack": plan.attack_key,
                    "format": "x_adv = clamp(x[index] + delta, 0, 1)"}
        return AttackJob(claim.source, plan.name(claim.source), cfg["attack"], cfg["seed"], cfg["batch_size"],
                         str(store.run_dir), claim.output, claim.clean, metadata)
    return EvaluationJob(claim.target, plan.name(claim.target), cfg["batch_size"], str(store.run_dir),
                         claim.advset, claim.keep)


def _recompute(store: RunStore, claim: Claim, error: CorruptTensorFile, report: RunReport) -> None:
    if store.invalidate(claim):
        resolve(store.run_dir, claim.advset.path).unlink(missing_ok=True)
        report.recomputed.append(claim.advset.path)
        warnings.warn(f"adversarial set {error}; recomputing it", stacklevel=2)
