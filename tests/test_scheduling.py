"""Evaluation scheduling: evaluations claimed and recorded target by target in one transaction, one job per
target, and the models placed on the device only while they fit (archsim.store.executors.Placement)."""

import numpy as np
import torch
from store_fixtures import query, write_config
from torch import nn

from archsim.cli import main
from archsim.store import RunStore
from archsim.store.executors import Placement
from archsim.store.jobs import AttackDone, Outcome
from archsim.store.keys import AttackEntry, DatasetEntry, ModelEntry
from archsim.store.tensors import FileRecord

WORKER = "elsewhere:1:w"


def plan_with_attacks_done(store, n_models):
    models = [ModelEntry(f"key{i}", f"m{i}", f"arch@{i}", {}) for i in range(n_models)]
    plan = store.register(models, DatasetEntry("data", ["a", "b"], [3, 2, 2]),
                          AttackEntry("attack", {"attack": {}, "seed": 0, "batch_size": 1}), noise=False)
    for i in range(n_models):
        claim = store.claim(plan, WORKER)
        assert claim.kind == "attack"
        done = AttackDone(np.array([True, i % 2 == 0]), FileRecord(f"tensors/adv/{i}.safetensors", "0" * 64, 1), 1, "x")
        assert store.record(claim, done)
    return plan


def test_evaluations_are_claimed_target_by_target_in_one_transaction(tmp_path):
    store = RunStore(tmp_path / "run")
    plan = plan_with_attacks_done(store, 4)
    statements = []
    store.conn.set_trace_callback(statements.append)
    batch = store.claim_batch(plan, WORKER, 3)
    assert sum(s.startswith("BEGIN") for s in statements) == 1  # one transaction for all three
    target = batch[0].target
    assert [c.kind for c in batch] == ["evaluation"] * 3 and {c.target for c in batch} == {target}
    assert [c.source for c in batch] == sorted(c.source for c in batch)
    rest = store.claim_batch(plan, WORKER, 10)
    assert [c.target for c in rest] == [target] and rest[0].source not in {c.source for c in batch}
    next_target = store.claim_batch(plan, WORKER, 10)
    assert len(next_target) == 4 and {c.target for c in next_target} == {next_target[0].target} != {target}
    np.testing.assert_array_equal(next_target[0].keep, [True, next_target[0].target % 2 == 1])  # target's clean
    statements.clear()
    stored = store.record_batch([(c, Outcome(np.array([1, 0], dtype=np.int8), "x")) for c in batch])
    assert stored == [True] * 3 and sum(s.startswith("BEGIN") for s in statements) == 1
    assert store.progress(plan)[("evaluation", "done")] == 3
    store.close()


def test_a_job_per_target_and_the_same_outcomes_as_single_units(zoo_specs, tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path / "run.yaml", zoo_specs.values())
    assert main(["sat", "--config", str(config), "--out", str(tmp_path / "batched"), "--no-progress"]) == 0
    monkeypatch.setattr("archsim.store.resume.EVALUATIONS_PER_JOB", 1)
    assert main(["sat", "--config", str(config), "--out", str(tmp_path / "single"), "--no-progress"]) == 0
    outcomes = ("SELECT u.kind, u.source, IFNULL(u.target, 0), o.correct FROM units u "
                "LEFT JOIN adversarial_outcomes o ON o.unit = u.id ORDER BY 1, 2, 3")
    assert query(tmp_path / "batched", outcomes) == query(tmp_path / "single", outcomes)
    # one job per target: the evaluations of a target started at the same time, the 3 targets at 3 times
    starts = query(tmp_path / "batched", "SELECT COUNT(DISTINCT r.started) FROM unit_runs r JOIN units u "
                                         "ON u.id = r.unit WHERE u.kind = 'evaluation' GROUP BY u.target")
    assert starts == [(1,), (1,), (1,)]
    assert query(tmp_path / "single", "SELECT COUNT(DISTINCT started) FROM unit_runs")[0][0] == 15


class Spy(nn.Module):
    def __init__(self, moves, name):
        super().__init__()
        self.moves, self.name = moves, name
        self.w = nn.Parameter(torch.zeros(2))

    def to(self, device):
        self.moves.append((self.name, str(device)))
        return self


def test_placement_keeps_only_the_attacker_and_target_when_they_do_not_fit():
    moves = []
    models = {i: Spy(moves, i) for i in range(4)}
    placement = Placement(models, "cuda", resident=2)  # no GPU needed: the spies record the moves
    for i in (0, 1, 1, 1, 2, 1, 3):
        assert placement.place(i) is models[i]
    assert placement.on_device == [1, 3]
    evictions = [m for m in moves if m[1] == "cpu"]
    assert evictions == [(0, "cpu"), (2, "cpu")]  # least recently used first; 1 stayed while it was used
    assert Placement(models, "cpu").resident == 4  # the CPU is host memory: everything stays
