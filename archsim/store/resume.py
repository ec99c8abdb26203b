"""Run the units of a plan that the store does not have yet.

    report = run_plan(store, plan, executor, progress=True)

A loop: claim units (attacks first; an evaluation once its inputs are stored)
until the executor is full, wait for one to finish, record it; evaluations
are claimed target by target, up to EVALUATIONS_PER_JOB of one target in one
transaction, run as one job (the target placed once for all of them) and
recorded in one transaction, so the store's bookkeeping is paid per job, not
per unit. When nothing can be claimed but units of the plan are still running
elsewhere (another process on the same store), poll until they are done or
their lease lapses.
The worker's leases are renewed by a heartbeat meanwhile. An evaluation that
finds its adversarial set corrupt drops the set, which makes the attack unit
pending again: it is recomputed, reported in `report.recomputed`, and the
evaluation follows. Before that, every reused adversarial set of the plan must
exist with its recorded size (`RunStore.drop_missing_sets`; no file is read):
one that does not is recomputed the same way, with a warning. Units still in flight when the loop ends by an error or
an interrupt are given back (without waiting long for a locked store: see `_give_back`).
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

from tqdm.auto import tqdm

import attacks
from archsim.store.jobs import AttackJob, EvaluationDone, EvaluationJob, NoiseJob
from archsim.store.leases import Heartbeat, new_worker_id
from archsim.store.plan import Claim, Plan
from archsim.store.runstore import RunStore
from archsim.store.tensors import CorruptTensorFile, resolve

POLL_S = 0.5
EVALUATIONS_PER_JOB = 256  # evaluations of one target claimed, run and recorded together
GIVE_BACK_WAIT_S = 5.0


@dataclass
class RunReport:
    ran: Counter = field(default_factory=Counter)  # units run here, by kind
    reused: int = 0  # units of the plan already done when the run started
    recomputed: list[str] = field(default_factory=list)  # corrupt files found and recomputed

    def summary(self) -> str:
        noise = f", {self.ran['noise']} noise-control units" if self.ran["noise"] else ""
        noise += f", {self.ran['pilot']} pilot units" if self.ran["pilot"] else ""
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
                while len(in_flight) < executor.capacity and (
                        claims := store.claim_batch(plan, worker, EVALUATIONS_PER_JOB)):
                    in_flight[executor.submit(_job(claims, plan, store))] = claims
                if not in_flight:
                    if all(status == "done" for _, status in store.progress(plan)):
                        break
                    bar.set_postfix_str("waiting for units held by another worker")
                    time.sleep(POLL_S)
                    continue
                handle, result, error = executor.wait(list(in_flight))
                claims = in_flight.pop(handle)
                if error is not None:
                    for claim in claims:
                        store.release(claim, "failed")
                    raise error
                _record(store, plan, claims, result, report, bar)
        except BaseException:
            _give_back(store, worker)
            raise
        finally:
            bar.close()
    return report


def _give_back(store: RunStore, worker: str) -> None:
    """Give back the units in flight when an error or an interrupt ends the loop, waiting at most
    GIVE_BACK_WAIT_S for the store's lock, quietly: if it is locked, or full, they go back anyway once
    this process is gone (`archsim.store.leases`), and the error that ended the loop is the one to report."""
    try:
        store.release_all(worker, "interrupted", wait_s=GIVE_BACK_WAIT_S, quiet=True)
    except sqlite3.Error:
        pass


def _record(store: RunStore, plan: Plan, claims: list[Claim], result, report: RunReport, bar) -> None:
    """Store what a job returned: each evaluation's outcome (a corrupt adversarial set is recomputed)."""
    outcomes = result.outcomes() if isinstance(result, EvaluationDone) else [result]
    finished = []
    for claim, outcome in zip(claims, outcomes):
        if isinstance(outcome, CorruptTensorFile):
            _recompute(store, claim, outcome, report)
        else:
            finished.append((claim, outcome))
    for (claim, outcome), stored in zip(finished, store.record_batch(finished)):
        if stored:
            report.ran[claim.kind] += 1
            bar.update(1)
        elif claim.kind == "attack":  # lease lost meanwhile: another worker redoes the unit
            resolve(store.run_dir, outcome.file.path).unlink(missing_ok=True)
    last = claims[-1]
    bar.set_postfix_str(f"{last.kind} {plan.name(last.source)}"
                        + (f" -> {plan.name(last.target)}" if last.target is not None else ""))


def _job(claims: list[Claim], plan: Plan, store: RunStore) -> AttackJob | EvaluationJob | NoiseJob:
    cfg = plan.attack_config
    precision = cfg.get("precision", "fp32")
    claim = claims[0]
    if claim.kind == "noise":
        return NoiseJob(claim.source, plan.name(claim.source), attacks.noise_config(cfg["attack"]), cfg["seed"],
                        cfg["batch_size"], claim.clean, precision)
    if claim.kind == "attack":
        metadata = {"source": plan.model_keys[claim.source], "dataset": plan.dataset_key, "attack": plan.attack_key,
                    "format": "x_adv = clamp(x[index] + delta, 0, 1)"}
        return AttackJob(claim.source, plan.name(claim.source), cfg["attack"], cfg["seed"], cfg["batch_size"],
                         str(store.run_dir), claim.output, claim.clean, metadata, precision)
    return EvaluationJob(claim.target, plan.name(claim.target), cfg["batch_size"], str(store.run_dir),
                         tuple(c.advset for c in claims), claim.keep, precision)


def _recompute(store: RunStore, claim: Claim, error: CorruptTensorFile, report: RunReport) -> None:
    if store.invalidate(claim):
        resolve(store.run_dir, claim.advset.path).unlink(missing_ok=True)
        report.recomputed.append(claim.advset.path)
        warnings.warn(f"adversarial set {error}; recomputing it", stacklevel=2)
